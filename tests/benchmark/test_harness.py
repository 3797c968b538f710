"""The throughput harness on the CPU at a tiny budget: rows, keys, finite positive numbers."""

import math

import numpy as np
import pytest

from gpunn.benchmark.harness import BenchConfig, ratio_stats, run_throughput
from gpunn.benchmark.subjects import load_images, make_pool
from gpunn.benchmark.timing import Runner, alternate, calibrate, stats

TINY = dict(repeats=2, seconds=0.01, warmup_steps=1, data="random", max_load=None, gap=0.0)
STAT_KEYS = {"available", "median", "min", "max", "q1", "q3", "samples", "steps"}


def _positive(v) -> bool:
    return isinstance(v, float) and math.isfinite(v) and v > 0


def test_fc30_rows_without_peers():
    config = BenchConfig(presets=("fc30",), batch_sizes=(10, 3), peers=(), **TINY)
    seen = []
    rows, source = run_throughput(config, log=seen.append)
    assert source.startswith("random")
    assert seen == rows
    assert [(r["mode"], r["batch_size"]) for r in rows] == [
        ("train", 10),
        ("infer", 10),
        ("train", 3),
        ("infer", 3),
    ]
    for row in rows:
        assert row["preset"] == "fc30" and row["device"] == "cpu" and row["peers"] == {}
        g = row["gpunn"]
        assert STAT_KEYS <= set(g) and g["available"]
        assert len(g["samples"]) == 2 and all(_positive(s) for s in g["samples"])
        assert g["min"] <= g["q1"] <= g["median"] <= g["q3"] <= g["max"]
        assert isinstance(g["steps"], int) and g["steps"] >= 1


def test_fc30_rows_with_torch_peer():
    pytest.importorskip("torch")
    config = BenchConfig(
        presets=("fc30",), batch_sizes=(10,), modes=("train",), peers=("torch", "torch-1t"), **TINY
    )
    (row,) = run_throughput(config)[0]
    for name in ("torch", "torch-1t"):
        peer = row["peers"][name]
        assert peer["available"], peer
        assert all(_positive(peer[k]) for k in ("median", "min", "max", "ratio"))
        assert _positive(peer["paired_ratio"]["median"])
    assert row["peers"]["torch-1t"]["threads"] == 1


def test_failing_runner_is_reported_not_raised():
    ok = Runner("ok", lambda i: None, lambda: None, 4)

    def broken(i):
        raise RuntimeError("no kernel yet\nmore")

    results = alternate([Runner("bad", broken, lambda: None, 4), ok], 2, 0.001, 1)
    assert results["bad"] == {"available": False, "reason": "RuntimeError: no kernel yet"}
    assert results["ok"]["available"] and len(results["ok"]["samples"]) == 2


def test_alternation_order():
    order = []
    a = Runner("a", lambda i: order.append("a"), lambda: None, 1)
    b = Runner("b", lambda i: order.append("b"), lambda: None, 1)
    alternate([a, b], 3, 0.0, 1)
    tail = order[-6:]  # one step per measurement once calibrated to a zero budget
    assert tail == ["a", "b", "b", "a", "a", "b"]  # each round starts one later


def test_each_measurement_starts_after_the_gap(monkeypatch):
    """The idle comes before every measurement, of either side, not once per round."""
    from gpunn.benchmark import timing

    events = []
    monkeypatch.setattr(timing.time, "sleep", lambda s: events.append(("sleep", s)))
    a = Runner("a", lambda i: events.append("a"), lambda: None, 1)
    b = Runner("b", lambda i: events.append("b"), lambda: None, 1)
    alternate([a, b], 2, 0.0, 1, gap=0.5)
    gap = ("sleep", 0.5)
    assert events[-8:] == [gap, "a", gap, "b", gap, "b", gap, "a"]


def test_the_gap_defaults_to_half_a_second_on_the_cpu_only():
    from gpunn.benchmark.harness import BenchConfig

    assert BenchConfig(device="cpu").gap_seconds() == 0.5
    assert BenchConfig(device="gpu").gap_seconds() == 0.0
    assert BenchConfig(device="cpu", gap=0.0).gap_seconds() == 0.0


def test_loaded_rounds_are_redone_then_kept(monkeypatch):
    from gpunn.benchmark import timing

    clock = iter(range(0, 10**9, 1000))  # every read: 1000 more busy CPU seconds
    monkeypatch.setattr(timing, "_busy_seconds", lambda: float(next(clock)))
    monkeypatch.setattr(timing, "QUIET_TIMEOUT", 0.0)
    r = Runner("r", lambda i: None, lambda: None, 1)
    res = alternate([r], 2, 0.0, 1, max_load=0.5)["r"]
    assert res["rounds_discarded"] == 4 and len(res["samples"]) == 2
    assert res["other_load_cores"] > 0.5
    res = alternate([r], 2, 0.0, 1, max_load=None)["r"]
    assert res["rounds_discarded"] == 0


def test_calibrate_and_stats():
    r = Runner("r", lambda i: None, lambda: None, 1)
    assert calibrate(r, 0.0) == 1
    s = stats([1.0, 2.0, 3.0, 4.0])
    assert s["median"] == 2.5 and s["min"] == 1.0 and s["max"] == 4.0
    assert ratio_stats({"available": False}, {"available": True}) == {"ratio": None}


def test_pool_shapes_and_random_images_are_not_zero():
    images = load_images("random", n=100)
    assert images.x.dtype == np.float32 and images.x.min() >= 0 and images.x.max() < 1
    assert images.x.std() > 0.2
    pool = make_pool(images, 10, (1, 28, 28))
    assert pool.x.shape == (64, 10, 1, 28, 28) and pool.onehot.shape == (64, 10, 10)
    np.testing.assert_array_equal(pool.onehot.argmax(-1), pool.labels)
    assert make_pool(images, 1024, (784,)).x.shape == (8, 1024, 784)


def test_the_quiet_timeout_and_the_gap_reach_the_rounds(monkeypatch):
    seen = []

    def record(runners, *args):
        seen.append(args)
        return {r.name: {"available": False, "reason": "not measured"} for r in runners}

    monkeypatch.setattr("gpunn.benchmark.harness.alternate", record)
    settings = {**TINY, "max_load": 0.5, "quiet_timeout": 7.5, "gap": 0.25}
    run_throughput(BenchConfig(presets=("fc30",), batch_sizes=(3,), peers=(), **settings))
    assert seen and all(args[-3:] == (0.5, 7.5, 0.25) for args in seen)


def test_gpu_rows_give_their_memory_back_to_the_gpu(monkeypatch):
    """After each GPU row: CuPy's pool emptied, and torch's cache when a peer imported it
    (what the calls are; that they free memory needs a GPU)."""
    import sys
    from types import SimpleNamespace

    from gpunn import backend
    from gpunn.benchmark import harness

    calls = []
    pool = SimpleNamespace(free_all_blocks=lambda: calls.append("cupy pool"))
    cupy = SimpleNamespace(get_default_memory_pool=lambda: pool)
    monkeypatch.setattr(backend, "get_device", lambda name: SimpleNamespace(xp=cupy))
    cuda = SimpleNamespace(is_available=lambda: True, empty_cache=lambda: calls.append("torch"))
    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(cuda=cuda))
    harness.release_gpu_memory()
    assert calls == ["cupy pool", "torch"]
    monkeypatch.delitem(sys.modules, "torch")
    harness.release_gpu_memory()
    assert calls == ["cupy pool", "torch", "cupy pool"]
