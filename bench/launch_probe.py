#!/usr/bin/env python
"""What a launch costs the host, and whether a training step can become a CUDA graph (GPU only).

    python bench/launch_probe.py [--json FILE] [--steps N] [--only PROBE...]

At mini-batch 10 a step of the book's networks is a few microseconds of arithmetic per
kernel, so the host's work per launch decides the speed. This measures, on the lent GPU:

- ``launch``: host µs per launch of the convolution forward kernel at N = 10 (3 arrays,
  2 integers), passed five ways: gpunn's ``conv_forward`` (allocates z, looks up a kept
  device view of each CuPy array), gpunn's launch alone into a kept z, each array
  wrapped anew with ``as_cuda_array(sync=False)`` (gpunn before the kept views), Numba
  device views made once, and raw CuPy arrays (numba-cuda 0.30 takes them through
  DLPack, on a non-blocking stream since DLPack refuses CuPy's null one); plus a Numba
  kernel with no arguments (the dispatcher's floor), a CuPy elementwise kernel and
  ``cp.matmul`` (10×1000 @ 1000×1000).
  Beside each, the device µs per launch from CUDA events over the same loop.
- ``methods``: device µs of convolution forward, backward to the input and to the
  weights at conv1 and conv2's shapes, m = 10, 64, 256, by each method of
  ``gpunn.kernels.conv`` (gemm, tiled, direct), and how far apart their results are.
- ``weight_gradient``: the same for the weight gradient, several filters a block
  against one.
- ``step``: for conv2-relu and final at m = 10, the host seconds to enqueue N training
  steps against the seconds until the device has finished them (equal means the step
  is host-bound): replayed as a CUDA graph (``gpunn.step``), and launched eagerly with
  kept device views and with views made anew at every launch.
- ``graph``: whether stream capture takes a Numba launch, a CuPy elementwise kernel and
  ``cp.matmul``, and whether ``TrainStep``'s graph trains conv2-relu and final as its
  eager steps do (20 steps from one start; dropout and η included).

Every probe records its error instead of stopping the others. Nothing here is a test:
it tells the next change what to aim at (bench/NOTES.md, the plan for the next GPU session).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time
import traceback

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

LAUNCHES = 2000


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:300]}"


SPIN_SOURCE = r"""
extern "C" __global__ void gpunn_probe_spin(long long cycles) {
    long long start = clock64();
    while (clock64() - start < cycles) {
    }
}
"""
SPIN_CYCLES = 300_000_000  # ≈ 0.15–0.2 s at the H100's clock: longer than enqueuing QUEUED calls
QUEUED = 500  # calls timed on the device behind the spin (under the ≈ 1,000-launch queue)


def host_and_device_us(cp, fn, n: int = LAUNCHES) -> dict:
    """Host µs per call (a clock around n calls, no sync inside; if the device is the slower
    side the launch queue fills and this becomes device time) and device µs per call (CUDA
    events around QUEUED calls enqueued behind a spinning kernel, so that the device runs
    them back to back however slow the host is), all on CuPy's current stream."""
    spin = cp.RawKernel(SPIN_SOURCE, "gpunn_probe_spin")
    for _ in range(20):
        fn()
    cp.cuda.Device().synchronize()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    host = time.perf_counter() - t0
    cp.cuda.Device().synchronize()
    wall = time.perf_counter() - t0
    start, end = cp.cuda.Event(), cp.cuda.Event()
    spin((1,), (1,), (np.int64(SPIN_CYCLES),))
    start.record()
    t1 = time.perf_counter()
    for _ in range(QUEUED):
        fn()
    enqueue = time.perf_counter() - t1
    end.record()
    end.synchronize()
    spun = time.perf_counter() - t1  # the spin's time left after the enqueue, and the calls
    return {
        "host_us": 1e6 * host / n,
        "wall_us": 1e6 * wall / n,
        "device_us": 1e3 * cp.cuda.get_elapsed_time(start, end) / QUEUED,
        # False: the host had not enqueued all QUEUED calls when the spin ended, so the
        # device waited on it and device_us is an overestimate
        "device_us_clean": bool(enqueue < 0.5 * spun),
    }


def probe_launch(cp) -> dict:
    from numba import cuda

    from gpunn.kernels import conv as conv_kernels
    from gpunn.kernels.blas import gemm
    from gpunn.kernels.launch import THREADS, current_stream, launch

    rng = np.random.default_rng(0)
    x = cp.asarray(rng.standard_normal((10, 1, 28, 28), dtype=np.float32))
    w = cp.asarray(rng.standard_normal((20, 1, 5, 5), dtype=np.float32))
    z = cp.empty((10, 20, 24, 24), cp.float32)
    kernel = conv_kernels.kernels(x.dtype).conv_forward_kernel  # the build gpunn uses
    blocks = (z.size + THREADS - 1) // THREADS
    stream = current_stream()
    views = [cuda.as_cuda_array(a, sync=False) for a in (x, w, z)]
    side = cp.cuda.Stream(non_blocking=True)  # DLPack refuses CuPy's null stream
    side_numba = cuda.external_stream(side.ptr)

    @cuda.jit
    def nothing():
        pass

    a = cp.ones((10, 1000), cp.float32)
    b = cp.ones((1000, 1000), cp.float32)
    axpy = cp.ElementwiseKernel("T x, T y", "T z", "z = 2 * x + y", "gpunn_probe_axpy")

    cases = {
        "gpunn conv_forward, direct method (alloc + kept views + launch)": lambda: _direct(
            conv_kernels.conv_forward, x, w
        ),
        "gpunn launch() into a kept z (kept views)": lambda: launch(kernel, z.size, x, w, 1, 0, z),
        "kernel[...] wrapping per call (as_cuda_array)": lambda: kernel[blocks, THREADS, stream](
            *(cuda.as_cuda_array(v, sync=False) for v in (x, w)),
            1,
            0,
            cuda.as_cuda_array(z, sync=False),
        ),
        "kernel[...] on views made once": lambda: kernel[blocks, THREADS, stream](
            views[0], views[1], 1, 0, views[2]
        ),
        "numba kernel without arguments": lambda: nothing[1, 1, stream](),
        "cupy elementwise (2 in, 1 out)": lambda: axpy(a, a),
        "cp.matmul 10x1000 @ 1000x1000": lambda: cp.matmul(a, b),
        "gpunn gemm (cuBLAS by ctypes) 10x1000 @ 1000x1000": lambda: gemm(a, b),
    }
    out = {}
    for name, fn in cases.items():
        try:
            out[name] = host_and_device_us(cp, fn)
        except Exception as exc:
            out[name] = {"error": _error(exc)}
    name = "kernel[...] on raw CuPy arrays (Numba's DLPack path, a non-blocking stream)"
    try:
        with side:
            out[name] = host_and_device_us(
                cp, lambda: kernel[blocks, THREADS, side_numba](x, w, 1, 0, z)
            )
    except Exception as exc:
        out[name] = {"error": _error(exc)}
    return out


def _book_shapes(cp):
    """(layer, m, x, w, gz): random float32 arrays at the book's conv shapes (the kernel
    micro-benchmarks' ``CONV_LAYERS``), m = 10, 64, 256."""
    from gpunn.benchmark.kernels import CONV_LAYERS, KERNEL_BATCHES

    rng = np.random.default_rng(3)
    for layer, ((c, h, w_), f, k) in CONV_LAYERS.items():
        for n in KERNEL_BATCHES:
            x = cp.asarray(rng.standard_normal((n, c, h, w_), dtype=np.float32))
            w = cp.asarray(rng.standard_normal((f, c, k, k), dtype=np.float32))
            gz = cp.asarray(rng.standard_normal((n, f, h - k + 1, w_ - k + 1), dtype=np.float32))
            yield layer, n, x, w, gz


def _versus(cp, fn, module, setting: str, variants: dict) -> dict:
    """Host and device µs of ``fn()`` with ``module.setting`` at each of ``variants``
    ({name: value}), and the largest relative difference of each result from the first."""
    kept = getattr(module, setting)
    row, results = {}, []
    for name, value in variants.items():
        setattr(module, setting, value)
        try:
            row[name] = host_and_device_us(cp, fn, n=200)
            results.append(fn())
        except Exception as exc:
            row[name] = {"error": _error(exc)}
        finally:
            setattr(module, setting, kept)
    if len(results) >= 2:
        row["max_rel_diff"] = _max_rel_diff(results)
    return row


def _direct(fn, *args):
    """``fn(*args)`` with the direct convolution kernels: one launch, as measured before
    'gemm' became the default method (2026-11-24), so the numbers stay comparable."""
    with _conv_method("direct"):
        return fn(*args)


def _max_rel_diff(results: list) -> float:
    """The largest relative difference of each result from the first."""
    return max(float(abs(r - results[0]).max() / abs(results[0]).max()) for r in results[1:])


@contextlib.contextmanager
def _conv_method(method: str):
    from gpunn.kernels.conv import METHOD_ENV

    kept = os.environ.get(METHOD_ENV)
    os.environ[METHOD_ENV] = method
    try:
        yield
    finally:
        if kept is None:
            del os.environ[METHOD_ENV]
        else:
            os.environ[METHOD_ENV] = kept


def probe_weight_gradient(cp) -> dict:
    """Device µs of the weight gradient at the book's shapes: the small-filter kernel with
    WEIGHT_FILTERS filters a block (each x read serving them all) against one filter a
    block (the kernel measured on 2026-11-24, 2.5–8× faster than the per-weight one)."""
    from gpunn.kernels import conv as conv_kernels

    variants = {f"{conv_kernels.WEIGHT_FILTERS} filters a block": conv_kernels.WEIGHT_FILTERS}
    variants["1 filter a block"] = 1
    with _conv_method("tiled"):  # the method whose weight gradient this kernel is
        return {
            f"{layer} m={n}": _versus(
                cp,
                lambda gz=gz, x=x, w=w: conv_kernels.conv_backward(gz, x, w, need_gx=False)[1],
                conv_kernels,
                "WEIGHT_FILTERS",
                variants,
            )
            for layer, n, x, w, gz in _book_shapes(cp)
        }


def probe_methods(cp) -> dict:
    """Device µs of convolution forward, backward to the input and to the weights at the
    book's shapes by each method of ``gpunn.kernels.conv``: 'gemm' (im2col / col2im kernels
    around cuBLAS, the default), 'tiled' (the stride-1 tiled kernel, filters in shared
    memory) and 'direct' (one thread per output), and how far their results are apart."""
    from gpunn.kernels import conv as conv_kernels

    ops = {
        "forward": lambda gz, x, w: conv_kernels.conv_forward(x, w),
        "backward-input": lambda gz, x, w: conv_kernels.conv_backward_input(gz, w, x.shape),
        "backward-weight": lambda gz, x, w: conv_kernels.conv_backward(gz, x, w, need_gx=False)[1],
    }
    out = {}
    for layer, n, x, w, gz in _book_shapes(cp):
        # gz as training hands it to each method: 'gemm''s pool backward lays it out (F, N, …)
        filter_major = cp.ascontiguousarray(gz.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
        for op, fn in ops.items():
            row, results = {}, []
            for method in conv_kernels.METHODS:
                g = filter_major if method == "gemm" else gz
                with _conv_method(method):
                    try:
                        row[method] = host_and_device_us(
                            cp, lambda fn=fn, g=g, x=x, w=w: fn(g, x, w), n=200
                        )
                        results.append(fn(g, x, w))
                    except Exception as exc:
                        row[method] = {"error": _error(exc)}
            if len(results) >= 2:
                row["max_rel_diff"] = _max_rel_diff(results)
            out[f"{layer} {op} m={n}"] = row
    return out


@contextlib.contextmanager
def _views(kind: str):
    """gpunn's launches with kept device views ('kept', the default) or views made anew."""
    from numba import cuda

    from gpunn.kernels import launch

    kept = launch._device_view
    if kind == "anew":
        launch._device_view = lambda a: (
            cuda.as_cuda_array(a, sync=False) if hasattr(a, "__cuda_array_interface__") else a
        )
    try:
        yield
    finally:
        launch._device_view = kept


def probe_steps(cp, n_steps: int) -> dict:
    """Host and wall µs per training step at m = 10: replayed CUDA graphs (gpunn's default
    on the GPU), eager launches with kept device views, eager with views made anew."""
    from gpunn.benchmark.subjects import gpunn_runner, load_images, make_pool
    from gpunn.presets import get_preset

    out = {}
    images = load_images("auto")
    for name in ("conv2-relu", "final"):
        try:
            preset = get_preset(name)
            pool = make_pool(images, 10, preset.input_shape)
            runners = {
                "graph": gpunn_runner(preset, "train", pool, "gpu", graphs=True),
                "eager": gpunn_runner(preset, "train", pool, "gpu", graphs=False),
            }
            for runner in runners.values():
                for i in range(20):
                    runner.step(i)
                runner.prepare()  # notes the step's mode: 'eager' if the capture was refused
            out[name] = {"graph mode": runners["graph"].info.get("step_mode")}
            # A, B, C, A, B, C: a drift shows as two different A
            for variant in ("graph", "eager kept views", "eager views anew") * 2:
                runner = runners[variant.split()[0]]
                with _views("anew" if variant.endswith("anew") else "kept"):
                    runner.sync()
                    t0 = time.perf_counter()
                    for i in range(n_steps):
                        runner.step(i)
                    host = time.perf_counter() - t0
                    runner.sync()
                    wall = time.perf_counter() - t0
                out[name].setdefault(variant, []).append(
                    {
                        "steps": n_steps,
                        "host_us_per_step": 1e6 * host / n_steps,
                        "wall_us_per_step": 1e6 * wall / n_steps,
                        "images_per_s": 10 * n_steps / wall,
                    }
                )
        except Exception as exc:
            out[name] = {"error": _error(exc), "traceback": traceback.format_exc()[-2000:]}
    return out


def _capture(cp, stream, fn):
    """(graph, None) when capturing fn() on ``stream`` worked, else (None, error)."""
    with stream:
        stream.begin_capture()
        try:
            fn()
        except Exception as exc:
            try:
                stream.end_capture()
            except Exception:
                pass
            return None, _error(exc)
        try:
            return stream.end_capture(), None
        except Exception as exc:
            return None, _error(exc)


def probe_graph(cp) -> dict:
    """Captures of single operations, then of whole training steps, on a non-blocking stream."""
    stream = cp.cuda.Stream(non_blocking=True)  # capture refuses the null stream
    try:
        out = _single_captures(cp, stream)
    except Exception as exc:
        out = {"single operations": {"error": _error(exc), "traceback": traceback.format_exc()}}
    out["training step"] = probe_step_graph(cp)
    return out


def _single_captures(cp, stream) -> dict:
    from numba import cuda

    from gpunn.kernels import conv as conv_kernels
    from gpunn.kernels.launch import THREADS

    out = {}
    rng = np.random.default_rng(1)
    with stream:
        x = cp.asarray(rng.standard_normal((10, 1, 28, 28), dtype=np.float32))
        w = cp.asarray(rng.standard_normal((20, 1, 5, 5), dtype=np.float32))
        z = cp.zeros((10, 20, 24, 24), cp.float32)
        a = cp.asarray(rng.standard_normal((10, 1000), dtype=np.float32))
        b = cp.asarray(rng.standard_normal((1000, 1000), dtype=np.float32))
        c = cp.zeros((10, 1000), cp.float32)
    stream.synchronize()
    kernel = conv_kernels.kernels(x.dtype).conv_forward_kernel
    numba_stream = cuda.external_stream(stream.ptr)
    views = [cuda.as_cuda_array(v, sync=False) for v in (x, w, z)]
    blocks = (z.size + THREADS - 1) // THREADS
    kernel[blocks, THREADS, numba_stream](*views[:2], 1, 0, views[2])  # loaded before capture
    stream.synchronize()
    expected = cp.asnumpy(z)

    def numba_launch():
        kernel[blocks, THREADS, numba_stream](*views[:2], 1, 0, views[2])

    def elementwise():
        cp.multiply(a, 2, out=c)

    def matmul():
        cp.matmul(a, b, out=c)

    for name, fn, check in (
        ("numba launch", numba_launch, lambda: np.allclose(cp.asnumpy(z), expected)),
        ("cupy elementwise", elementwise, lambda: np.allclose(cp.asnumpy(c), 2 * cp.asnumpy(a))),
        ("cp.matmul", matmul, lambda: np.allclose(cp.asnumpy(c), cp.asnumpy(a @ b), rtol=1e-3)),
    ):
        with stream:
            z.fill(0)
            c.fill(0)
        stream.synchronize()
        graph, err = _capture(cp, stream, fn)
        row = {"captured": graph is not None, "error": err}
        if graph is not None:
            try:
                graph.launch(stream=stream)
                stream.synchronize()
                row["replay_matches"] = bool(check())
            except Exception as exc:
                row["replay_error"] = _error(exc)
        out[name] = row
    return out


def probe_step_graph(cp) -> dict:
    """conv2-relu and final at m = 10, trained 20 steps by ``TrainStep`` as a CUDA graph and
    eagerly from the same start (dropout masks and η alike): the mode the graph step ended
    in, what it said if it gave up, and how far the parameters are apart."""
    from gpunn.benchmark.subjects import build_network
    from gpunn.presets import get_preset
    from gpunn.step import TrainStep

    out = {}
    rng = np.random.default_rng(2)
    for name in ("conv2-relu", "final"):
        try:
            preset = get_preset(name)
            said: list[str] = []
            nets, steps = [], []
            for graphs in (True, False):
                net, opt = build_network(preset, "gpu")
                nets.append(net)
                steps.append(TrainStep(net, opt, 10, graphs=graphs, log=said.append))
            for k in range(20):
                x = cp.asarray(rng.random((10, *preset.input_shape), dtype=np.float32))
                y = cp.asarray(np.eye(10, dtype=np.float32)[rng.integers(0, 10, 10)])
                for step in steps:
                    step(x, y, k)
            diff = max(
                float(cp.abs(a - b).max())
                for la, lb in zip(nets[0].layers, nets[1].layers, strict=True)
                for a, b in ((la.w, lb.w), (la.b, lb.b))
            )
            out[name] = {"mode": steps[0].mode, "said": said, "max_abs_param_diff": diff}
        except Exception as exc:
            out[name] = {"error": _error(exc), "traceback": traceback.format_exc()[-2000:]}
    return out


PROBES = ("launch", "methods", "weight_gradient", "step", "graph")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", help="write the results here as well")
    p.add_argument("--steps", type=int, default=2000, help="training steps per network")
    p.add_argument(
        "--only", nargs="+", choices=PROBES, help="run these probes alone (default: all)"
    )
    args = p.parse_args(argv)

    import cupy as cp

    from gpunn.backend import get_device
    from gpunn.benchmark.report import environment

    device = get_device("gpu")
    result = {"date": time.strftime("%Y-%m-%d"), "host": platform.node()}
    try:
        result["environment"] = environment(device)
    except Exception as exc:
        result["environment"] = {"error": _error(exc)}
    probes = {
        "launch": lambda: probe_launch(cp),
        "methods": lambda: probe_methods(cp),
        "weight_gradient": lambda: probe_weight_gradient(cp),
        "step": lambda: probe_steps(cp, args.steps),
        "graph": lambda: probe_graph(cp),
    }
    for name, probe in probes.items():
        if args.only and name not in args.only:
            continue
        try:
            result[name] = probe()
        except Exception as exc:
            result[name] = {"error": _error(exc), "traceback": traceback.format_exc()[-2000:]}
        print(f"== {name}")
        print(json.dumps(result[name], indent=1), flush=True)
        if args.json:  # after every probe: a run cut short keeps the ones done
            with open(args.json, "w") as f:
                json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
