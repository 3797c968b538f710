"""Scratch A/B at small m: serial 2-BLAS, serial 1-BLAS, forced split, torch; alternated."""
import sys, time, statistics as st
import numpy as np
from gpunn.benchmark.subjects import gpunn_runner, load_images, make_pool
from gpunn.benchmark.peers import torch_runner
from gpunn.benchmark.timing import warm_up
from gpunn.presets import get_preset
from gpunn.kernels import threads
from gpunn import replicas

preset_name, m, rounds, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
modes = sys.argv[5].split(",")
rmode = sys.argv[6] if len(sys.argv) > 6 else "train"
preset = get_preset(preset_name)
pool = make_pool(load_images("auto"), m, preset.input_shape)
runner = gpunn_runner(preset, rmode, pool, "cpu")
from gpunn.benchmark.subjects import build_network
state = build_network(preset, "cpu")[0].state()
tr = torch_runner(preset, rmode, pool, state, "cpu") if "torch" in modes else None
orig = (replicas.MIN_CONV_MACS, replicas.CONV_MACS_PER_PARAM, replicas.MIN_ROWS)

import gpunn.functions.conv as convmod
_f, _b = convmod._forward_cpu, convmod._backward_cpu
def _f1(*a):
    with threads.single_threaded_blas():
        return _f(*a)
def _b1(*a):
    with threads.single_threaded_blas():
        return _b(*a)

def setmode(mode):
    convmod._forward_cpu, convmod._backward_cpu = (_f1, _b1) if mode == "convblas1" else (_f, _b)
    if mode == "split":
        replicas.MIN_CONV_MACS, replicas.CONV_MACS_PER_PARAM, replicas.MIN_ROWS = 0, 0, 1
    else:
        replicas.MIN_CONV_MACS, replicas.CONV_MACS_PER_PARAM, replicas.MIN_ROWS = orig

def rate(mode):
    setmode(mode)
    r = tr if mode == "torch" else runner
    time.sleep(0.5)
    ctx = threads.single_threaded_blas() if mode == "blas1" else None
    if ctx: ctx.__enter__()
    try:
        r.run(20)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < secs:
            r.run(10); n += 10
        return n * m / (time.perf_counter() - t0)
    finally:
        if ctx: ctx.__exit__(None, None, None)

res = {k: [] for k in modes}
with np.errstate(all="ignore"):
    for k in modes: rate(k)
    for i in range(rounds):
        for k in modes:
            res[k].append(rate(k))
        print(i, "  ".join(f"{k} {res[k][-1]:,.0f}" for k in modes), flush=True)
for k in modes:
    v = res[k]
    print(f"{k:8s} median {st.median(v):8,.0f}  [{min(v):,.0f}–{max(v):,.0f}]")
