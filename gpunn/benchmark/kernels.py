"""GPU-only: conv and pool kernels against PyTorch/cuDNN and a floor, and peak memory.

Each op runs at the book's shapes — conv 1→20 5×5 on 28×28 and 20→40 5×5 on 12×12,
max-pool 2×2 of their outputs (N, 20, 24, 24) and (N, 40, 8, 8) — for N in 10, 64, 256,
timed with CUDA events (median over repeats of a loop of calls): each op's calls replayed
from a CUDA graph where it can be captured (device time alone: a Numba launch costs more
host time than these kernels take), with the eager loop's time beside it. The floor of an op is

    max(bytes moved / measured bandwidth, FLOPs / measured peak)

with bandwidth from a 512 MiB device-to-device copy (2 bytes moved per byte copied)
and peak from a 8192² float32 ``cupy.matmul``; "% of floor" is floor / measured time.
"""

from __future__ import annotations

import gc
import importlib

import numpy as np

from gpunn.benchmark.events import (
    cupy_capture,
    cupy_events,
    graph_timer,
    timer,
    torch_capture,
    torch_events,
)

CONV_LAYERS = {"conv1": ((1, 28, 28), 20, 5), "conv2": ((20, 12, 12), 40, 5)}
POOL_LAYERS = {"pool1": (20, 24, 24), "pool2": (40, 8, 8)}
KERNEL_BATCHES = (10, 64, 256)


def measure_floor(cp) -> dict:
    """Measured device bandwidth (bytes/s, copy) and float32 matmul peak (FLOP/s)."""
    time_cp = timer(cupy_events(cp))
    copy = {"src": cp.ones(1 << 27, dtype=cp.float32)}
    copy["dst"] = cp.empty_like(copy["src"])
    bandwidth = 2 * copy["src"].nbytes / time_cp(lambda: cp.copyto(copy["dst"], copy["src"]))
    copy.clear()
    n = 8192
    a = cp.random.random((n, n), dtype=cp.float32)
    b = cp.random.random((n, n), dtype=cp.float32)
    peak = 2 * n**3 / time_cp(lambda: cp.matmul(a, b))
    return {"bandwidth_bytes_per_s": bandwidth, "peak_flops": peak, "matmul_n": n}


def _entry(op, layer, n, nbytes, flops, floor, ours, theirs) -> dict:
    """One kernel row: times in µs, gpunn/torch speed ratio, each as % of the floor."""
    t_floor = max(nbytes / floor["bandwidth_bytes_per_s"], flops / floor["peak_flops"])
    row = {"op": op, "layer": layer, "batch_size": n, "bytes": nbytes, "flops": flops}
    row["floor_us"] = t_floor * 1e6
    for side, t in (("gpunn", ours), ("torch", theirs)):
        if isinstance(t, str):
            row[f"{side}_us"], row[f"{side}_error"] = None, t
        else:
            row[f"{side}_us"] = None if t is None else t * 1e6
            row[f"{side}_pct_of_floor"] = None if t is None else 100 * t_floor / t
    for side, t in (("gpunn", ours), ("torch", theirs)):
        row[f"{side}_timing"] = getattr(t, "mode", None)
        eager = getattr(t, "eager", None)
        row[f"{side}_eager_us"] = None if eager is None else eager * 1e6
        if getattr(t, "graph_error", None):
            row[f"{side}_graph_error"] = t.graph_error
    g, p = row["gpunn_us"], row["torch_us"]
    row["gpunn_over_torch_speed"] = p / g if g and p else None
    return row


def _try(time_fn, fn):
    try:
        return time_fn(fn)
    except Exception as exc:  # gpunn's op missing or failing: say so in the row
        return f"{type(exc).__name__}: {str(exc)[:200]}"


def _backward_input(gy, x, w):
    """gx alone: the kernels' own launcher on CuPy arrays; NumPy arrays (the tests' CPU
    stand-ins) have no gx-only path and take the whole ``conv_backward``."""
    if isinstance(gy, np.ndarray):
        from gpunn.functions.conv import conv_backward

        return conv_backward(gy, x, w)[0]
    from gpunn.kernels.conv import conv_backward_input

    return conv_backward_input(gy, w, x.shape)


def _conv_case(cp, torch, time_cp, time_t, floor, layer: str, n: int) -> list[dict]:
    from gpunn.functions.conv import conv_backward, conv_forward

    (c, h, w_), f, k = CONV_LAYERS[layer]
    rng = np.random.default_rng(0)
    oh, ow = h - k + 1, w_ - k + 1
    xh = rng.random((n, c, h, w_), dtype=np.float32)
    wh = (0.1 * rng.standard_normal((f, c, k, k))).astype(np.float32)
    gh = rng.standard_normal((n, f, oh, ow)).astype(np.float32)
    x, w, gy = cp.asarray(xh), cp.asarray(wh), cp.asarray(gh)
    method = _method()
    if method == "gemm":  # gz as training hands it over: laid out (F, N, …) by pool backward
        gy = cp.ascontiguousarray(gy.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    tx, tw, tg = (torch.from_numpy(a).cuda() for a in (xh, wh, gh))
    flops = 2 * n * f * oh * ow * c * k * k
    sx, sw, sy = 4 * xh.size, 4 * wh.size, 4 * gh.size

    def torch_backward(mask):
        cb = torch.ops.aten.convolution_backward
        return time_t(lambda: cb(tg, tx, tw, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1, mask))

    fwd = _try(time_cp, lambda: conv_forward(x, w, 1, 0))
    into = _try(time_cp, lambda: _backward_input(gy, x, w))
    weight = _try(time_cp, lambda: conv_backward(gy, x, w, 1, 0, False))
    both = _try(time_cp, lambda: conv_backward(gy, x, w, 1, 0, True))
    t_fwd = time_t(lambda: torch.nn.functional.conv2d(tx, tw))
    t_in, t_w = torch_backward([True, False, False]), torch_backward([False, True, False])
    t_both = torch_backward([True, True, False])
    rows = [
        _entry("conv forward", layer, n, sx + sw + sy, flops, floor, fwd, t_fwd),
        _entry("conv backward-input", layer, n, sy + sw + sx, flops, floor, into, t_in),
        _entry("conv backward-weight", layer, n, sy + sx + sw, flops, floor, weight, t_w),
        _entry("conv backward both", layer, n, sy + 2 * (sx + sw), 2 * flops, floor, both, t_both),
    ]
    layout = "(F, N, OH, OW) memory" if method == "gemm" else "(N, F, OH, OW) memory"
    return [{**row, "method": method, "gz_layout": layout} for row in rows]


def _method() -> str:
    """The convolution method the GPU launchers use (gemm, tiled, direct)."""
    try:
        from gpunn.kernels.conv import conv_method

        return conv_method()
    except Exception as exc:  # no numba-cuda: the rows say why, the table goes on
        return f"unknown ({type(exc).__name__})"


def _pool_case(cp, torch, time_cp, time_t, floor, layer: str, n: int) -> list[dict]:
    from gpunn.functions.pool import pool_backward, pool_forward

    F = torch.nn.functional
    f, h, w = POOL_LAYERS[layer]
    rng = np.random.default_rng(0)
    ah = rng.permutation(n * f * h * w).astype(np.float32).reshape(n, f, h, w)  # distinct values
    gh = rng.standard_normal((n, f, h // 2, w // 2)).astype(np.float32)
    a, gy = cp.asarray(ah), cp.asarray(gh)
    ta, tg = torch.from_numpy(ah).cuda(), torch.from_numpy(gh).cuda()
    _, idx = F.max_pool2d(ta, 2, return_indices=True)
    sa, sy = 4 * ah.size, 4 * gh.size
    fwd = _try(time_cp, lambda: pool_forward(a, 2, "max"))
    try:
        y, argmax = pool_forward(a, 2, "max")
        back = _try(time_cp, lambda: pool_backward(gy, a, y, argmax, 2, "max"))
    except Exception as exc:
        back = f"{type(exc).__name__}: {str(exc)[:200]}"
    bwd = torch.ops.aten.max_pool2d_with_indices_backward
    t_fwd = time_t(lambda: F.max_pool2d(ta, 2, return_indices=True))
    t_back = time_t(lambda: bwd(tg, ta, [2, 2], [2, 2], [0, 0], [1, 1], False, idx))
    return [
        _entry("pool forward", layer, n, sa + 2 * sy, n * f * h * w, floor, fwd, t_fwd),
        _entry("pool backward", layer, n, 2 * sy + sa, 0, floor, back, t_back),
    ]


CASES = {"conv": (_conv_case, CONV_LAYERS), "pool": (_pool_case, POOL_LAYERS)}


def kernel_rows(kind: str, cp, torch, floor, batches=KERNEL_BATCHES) -> list[dict]:
    """Every row of ``kind`` ('conv' or 'pool') at every layer shape and batch size.

    conv: forward, backward-input, backward-weight, both. gpunn's ``conv_backward``
    gives gx and gw together, so its backward-input (marked *) is the time of both
    less the time of the weight gradient alone. pool: 2×2 max, forward (with an
    int32-sized argmax) and backward.
    """
    importlib.import_module(f"gpunn.functions.{kind}")  # ImportError: the table is skipped
    case, layers = CASES[kind]
    time_cp = graph_timer(timer(cupy_events(cp)), cupy_capture(cp))
    time_t = graph_timer(timer(torch_events(torch)), torch_capture(torch))
    return [
        row
        for layer in layers
        for n in batches
        for row in case(cp, torch, time_cp, time_t, floor, layer, n)
    ]


def peak_memory(device, preset_name: str = "final", batch_size: int = 256, steps: int = 3):
    """Peak GPU memory of a training run: gpunn (CuPy pools, the CUDA graph's own included;
    memGetInfo) and torch."""
    from gpunn.benchmark.peers import import_torch, torch_runner
    from gpunn.benchmark.subjects import (
        BatchPool,
        build_network,
        gpunn_runner,
        load_images,
        make_pool,
    )
    from gpunn.presets import get_preset

    cp, torch = device.xp, import_torch()
    preset = get_preset(preset_name)
    full = make_pool(load_images("random", n=4 * batch_size), batch_size, preset.input_shape)
    pool = BatchPool(full.x[:4], full.labels[:4], full.onehot[:4])
    out = {"preset": preset_name, "batch_size": batch_size, "steps": steps}
    out["input_pool_bytes"] = int(pool.x.nbytes + pool.onehot.nbytes + pool.labels.nbytes)
    mp = cp.get_default_memory_pool()
    cp.cuda.Device().synchronize()
    mp.free_all_blocks()
    free0 = cp.cuda.runtime.memGetInfo()[0]
    runner = gpunn_runner(preset, "train", pool, device)
    runner.run(steps)
    runner.prepare()  # notes the step's mode and its CUDA graph's own pool
    from gpunn.kernels import blas

    graph_bytes = runner.info["graph_pool_bytes"]
    workspace = blas.WORKSPACE_BYTES if blas._cublas is not None else 0  # its own cudaMalloc
    out["gpunn"] = {
        "step_mode": runner.info["step_mode"],
        # the default pool, the graph's own pool and the cuBLAS workspace
        "total_bytes": int(mp.total_bytes()) + graph_bytes + workspace,
        "cupy_pool_total_bytes": int(mp.total_bytes()),  # the default pool, as before
        "cupy_pool_used_bytes": int(mp.used_bytes()),
        "graph_pool_total_bytes": graph_bytes,
        "cublas_workspace_bytes": workspace,
        "memgetinfo_delta_bytes": int(free0 - cp.cuda.runtime.memGetInfo()[0]),
    }
    del runner
    gc.collect()
    mp.free_all_blocks()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    state = build_network(preset, "cpu")[0].state()
    runner = torch_runner(preset, "train", pool, state, "gpu")
    runner.run(1)  # cuDNN's trials of algorithms happen here, their workspaces counted
    whole = int(torch.cuda.max_memory_allocated() - base)
    torch.cuda.reset_peak_memory_stats()
    runner.run(steps)
    out["torch"] = {
        "max_memory_allocated_bytes": max(whole, int(torch.cuda.max_memory_allocated() - base)),
        # after the first step: without the autotuning trials' workspaces
        "steady_max_memory_allocated_bytes": int(torch.cuda.max_memory_allocated() - base),
        "max_memory_reserved_bytes": int(torch.cuda.max_memory_reserved()),
    }
    del runner
    gc.collect()
    torch.cuda.empty_cache()
    return out


def run_kernels(device) -> dict:
    """The floor, conv and pool rows and peak memory; or why they were skipped."""
    if not device.is_gpu:
        return {"skipped": "kernel micro-benchmarks need a GPU (--device gpu)"}
    from gpunn.benchmark.peers import import_torch

    cp = device.xp
    try:
        torch = import_torch()
        if not torch.cuda.is_available():
            return {"skipped": "this PyTorch build has no usable CUDA device"}
    except Exception as exc:
        return {"skipped": str(exc)}
    from gpunn.benchmark.peers import exact_float32

    floor = measure_floor(cp)
    # cuDNN picks its fastest algorithm per shape at the first call (the timers' warm-up),
    # as it does for the throughput peers
    torch.backends.cudnn.benchmark = True
    out: dict = {
        "floor": floor,
        "torch_fp32_precision": exact_float32(torch),
        "torch_cudnn_benchmark": True,
    }
    for key in CASES:
        try:
            out[key] = kernel_rows(key, cp, torch, floor)
        except ImportError as exc:
            out[key] = {"skipped": f"gpunn op not importable: {exc}"}
    try:
        out["memory"] = peak_memory(device)
    except Exception as exc:
        out["memory"] = {"skipped": f"{type(exc).__name__}: {str(exc)[:200]}"}
    return out
