"""Splitting CPU work over examples: ranges, results in order, BLAS threads restored."""

import threading

import numpy as np
import pytest

from gpunn.errors import ConfigError
from gpunn.kernels import threads


@pytest.fixture
def three_workers(monkeypatch):
    monkeypatch.setattr(threads, "workers", lambda: 3)
    monkeypatch.setattr(threads, "_pool", None)
    monkeypatch.setattr(threads, "MIN_EXAMPLES", 0)


def test_equal_ranges_in_order_on_other_threads(three_workers):
    seen = []

    def work(lo, hi):
        seen.append(threading.current_thread().name)
        return lo, hi

    assert threads.over_examples(7, work, elements=1 << 20, blas=False) == [(0, 2), (2, 4), (4, 7)]
    assert all(name.startswith("gpunn-cpu") for name in seen)


def test_mini_batches_below_min_examples_stay_in_this_thread(monkeypatch):
    monkeypatch.setattr(threads, "workers", lambda: 3)
    here = threading.current_thread().name
    n = threads.MIN_EXAMPLES - 1
    result = threads.over_examples(
        n, lambda lo, hi: (lo, hi, threading.current_thread().name), elements=1 << 20, blas=False
    )
    assert result == [(0, n, here)]


def test_small_or_single_example_work_stays_in_this_thread(three_workers):
    here = threading.current_thread().name

    def work(lo, hi):
        return lo, hi, threading.current_thread().name

    assert threads.over_examples(7, work, elements=10) == [(0, 7, here)]
    assert threads.over_examples(1, work, elements=1 << 20) == [(0, 1, here)]


def test_blas_is_single_threaded_inside_and_restored_after():
    controls = threads._openblas()
    if controls is None:
        pytest.skip("NumPy's BLAS here is not OpenBLAS")
    set_threads, get_threads = controls
    before = get_threads()
    with threads.single_threaded_blas():
        assert get_threads() == 1
        np.ones((64, 64)) @ np.ones((64, 64))
    assert get_threads() == before
    with pytest.raises(RuntimeError), threads.single_threaded_blas():
        raise RuntimeError("a layer failed")
    assert get_threads() == before


def test_overlapping_blocks_restore_the_first_count():
    controls = threads._openblas()
    if controls is None:
        pytest.skip("NumPy's BLAS here is not OpenBLAS")
    before = controls[1]()
    outer = threads.single_threaded_blas()
    inner = threads.single_threaded_blas()
    outer.__enter__()
    inner.__enter__()
    outer.__exit__(None, None, None)  # the outer one closes first, as another thread might
    assert controls[1]() == 1
    inner.__exit__(None, None, None)
    assert controls[1]() == before


def test_a_ctrl_c_while_blas_is_lowered_does_not_leave_it_at_one_thread(monkeypatch):
    """The interrupt comes right after the count is set to 1, before the block is open:
    the next block must put back the count from before, not the 1 it finds."""
    count, lowered = {"threads": 4}, []

    def set_threads(n):
        count["threads"] = n
        if n == 1 and not lowered:  # the first time only
            lowered.append(n)
            raise KeyboardInterrupt

    monkeypatch.setattr(threads, "_openblas", lambda: (set_threads, lambda: count["threads"]))
    monkeypatch.setattr(threads, "_blas_depth", 0)
    monkeypatch.setattr(threads, "_blas_lowered", False)
    with pytest.raises(KeyboardInterrupt), threads.single_threaded_blas():
        pass
    assert count["threads"] == 1 and threads._blas_depth == 0
    with threads.single_threaded_blas():
        assert count["threads"] == 1
    assert count["threads"] == 4


def test_a_ctrl_c_during_a_split_waits_for_its_running_parts(three_workers, monkeypatch):
    """The parts not started are dropped; those running end before BLAS comes back."""
    started, ended, release = [], [], threading.Event()

    def work(lo, hi):
        started.append(lo)
        release.wait(5)
        ended.append(lo)
        return lo

    waits = []

    def interrupted_wait(futures):
        waits.append(len(futures))
        if len(waits) == 1:
            raise KeyboardInterrupt
        release.set()
        return real_wait(futures)

    real_wait = threads.concurrent.futures.wait
    monkeypatch.setattr(threads.concurrent.futures, "wait", interrupted_wait)
    with pytest.raises(KeyboardInterrupt):
        threads.over_examples(9, work, elements=1 << 20, blas=False)
    assert sorted(ended) == sorted(started) and len(waits) == 2  # none left running


def test_a_part_of_a_split_does_not_split_again(three_workers):
    """Nested splits would wait on the pool's own threads: inside a part, work runs in place."""

    def part(lo, hi):
        here = threading.current_thread().name
        inner = threads.over_examples(
            9, lambda a, b: (a, b, threading.current_thread().name), elements=1 << 20, blas=False
        )
        return inner == [(0, 9, here)]

    assert threads.split(6, 3, part, blas=False) == [True, True, True]
    outer = threads.over_examples(9, lambda a, b: (a, b), elements=1 << 20, blas=False)
    assert outer == [(0, 3), (3, 6), (6, 9)]  # the flag is cleared after the parts


def test_parts_keep_the_callers_numpy_error_settings(three_workers):
    """np.errstate is per thread: a part must not warn where its caller silenced NumPy."""
    with np.errstate(divide="ignore", over="raise"):
        seen = threads.split(3, 3, lambda lo, hi: np.geterr(), blas=False)
    assert all(e["divide"] == "ignore" and e["over"] == "raise" for e in seen)


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_gpunn_cpu_threads_must_be_a_positive_integer(monkeypatch, value):
    monkeypatch.setenv("GPUNN_CPU_THREADS", value)
    with pytest.raises(ConfigError, match="GPUNN_CPU_THREADS must be a positive integer"):
        threads.workers()


def test_gpunn_cpu_threads_caps_the_workers(monkeypatch):
    monkeypatch.delenv("GPUNN_CPU_THREADS", raising=False)
    cores = threads.workers()
    monkeypatch.setenv("GPUNN_CPU_THREADS", "1")
    assert threads.workers() == 1
    monkeypatch.setenv("GPUNN_CPU_THREADS", "999")
    assert threads.workers() == cores
