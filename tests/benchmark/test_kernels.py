"""GPU micro-benchmarks: skipped with a reason on the CPU, run (gpu marker) on a GPU."""

import pytest

from gpunn import backend
from gpunn.benchmark.events import GRAPH_CALLS, graph_timer
from gpunn.benchmark.kernels import _entry, run_kernels

FLOOR = {"bandwidth_bytes_per_s": 1e12, "peak_flops": 1e15}


def test_cpu_device_skips_with_reason():
    assert "need a GPU" in run_kernels(backend.CPU)["skipped"]


def test_floor_is_the_larger_of_memory_and_arithmetic_time():
    row = _entry("conv forward", "conv1", 10, 2e6, 1e9, FLOOR, 4e-6, "ImportError: x")
    assert row["floor_us"] == pytest.approx(2.0)  # 2 MB at 1 TB/s beats 1 GFLOP at 1 PFLOP/s
    assert row["gpunn_pct_of_floor"] == pytest.approx(50.0)
    assert row["torch_us"] is None and row["torch_error"] == "ImportError: x"
    assert row["gpunn_over_torch_speed"] is None


@pytest.mark.gpu
def test_kernels_on_gpu():
    pytest.importorskip("torch")
    out = run_kernels(backend.get_device("gpu"))
    assert out["floor"]["bandwidth_bytes_per_s"] > 0 and out["floor"]["peak_flops"] > 0
    for key in ("conv", "pool"):
        if isinstance(out[key], list):
            assert all(r["torch_us"] > 0 for r in out[key])
    assert "gpunn" in out["memory"] or "skipped" in out["memory"]


@pytest.mark.gpu
def test_gpu_throughput_row():
    from gpunn.benchmark.harness import BenchConfig, run_throughput

    config = BenchConfig(
        presets=("fc30",), batch_sizes=(64,), device="gpu", peers=("torch",),
        repeats=2, seconds=0.05, warmup_steps=2, data="random",
    )  # fmt: skip
    rows, _ = run_throughput(config)
    assert all(r["gpunn"]["available"] and r["gpunn"]["median"] > 0 for r in rows)


class _Event:
    """A CUDA event stand-in: ``record`` reads the host clock."""

    def __init__(self, *args, **kwargs):
        self.t = 0.0

    def record(self):
        import time

        self.t = time.perf_counter()

    def synchronize(self):
        pass

    def elapsed_time(self, end):
        return (end.t - self.t) * 1e3


def test_kernel_rows_with_cpu_stand_ins(monkeypatch):
    """The row-building code end to end, with NumPy for CuPy and CPU torch for CUDA torch."""
    import types

    import numpy as np

    torch = pytest.importorskip("torch")
    from gpunn.benchmark.kernels import kernel_rows

    cp = types.SimpleNamespace(
        asarray=np.asarray,
        ascontiguousarray=np.ascontiguousarray,
        cuda=types.SimpleNamespace(Event=_Event, get_elapsed_time=lambda s, e: s.elapsed_time(e)),
    )
    monkeypatch.setattr(torch.Tensor, "cuda", lambda self: self, raising=False)
    monkeypatch.setattr(torch.cuda, "Event", _Event)

    def no_graphs(torch):  # a CUDA torch (the GPU machine's) would capture an empty graph
        def capture(fn, calls):
            raise RuntimeError("no CUDA graphs on CPU tensors")

        return capture

    monkeypatch.setattr("gpunn.benchmark.kernels.torch_capture", no_graphs)
    for kind, n_ops in (("conv", 4), ("pool", 2)):
        rows = kernel_rows(kind, cp, torch, FLOOR, batches=(2,))
        assert len(rows) == 2 * n_ops  # two layer shapes
        for r in rows:
            assert r["torch_us"] > 0 and r["floor_us"] > 0, r
            assert r.get("gpunn_error") is None, r
            assert r["gpunn_us"] is not None, r
            # no CUDA graphs on these stand-ins: the eager loop's times
            assert r["gpunn_timing"] == r["torch_timing"] == "eager", r
            assert r["gpunn_eager_us"] == r["gpunn_us"], r


def test_graph_timer_takes_a_replay_per_call_else_the_eager_loop():
    def eager_time(fn):  # stand-in: "times" a function by what it returns
        return fn()

    t = graph_timer(eager_time, lambda fn, calls: lambda: 40.0)(lambda: 3.0)
    assert t == pytest.approx(40.0 / GRAPH_CALLS) and t.mode == "graph" and t.eager == 3.0

    def refuse(fn, calls):
        raise RuntimeError("capture refused")

    t = graph_timer(eager_time, refuse)(lambda: 3.0)
    assert t == 3.0 and t.mode == "eager" and t.eager == 3.0
    assert t.graph_error == "RuntimeError: capture refused"
    row = _entry("pool forward", "pool1", 10, 1e6, 0, FLOOR, t, 2e-6)
    assert row["gpunn_graph_error"] == "RuntimeError: capture refused"
