"""CUDA-event timing of GPU operations: a loop of eager calls, or calls replayed from a
CUDA graph (device time alone, without the host's launch cost), for CuPy and PyTorch.

The kernel micro-benchmarks (``gpunn.benchmark.kernels``) time each op both ways.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from gpunn.graphs import capture_graph

Op = Callable[[], Any]  # one call of the operation timed
Capture = Callable[[Op, int], Op]  # (op, calls) → a replay of those calls as one graph


def _event_time(fn, iters: int, events, repeats: int = 5) -> float:
    """Median seconds per call of ``fn`` over ``repeats`` loops of ``iters`` calls.

    ``events()`` gives (start, end, elapsed_ms(start, end)) for one library's CUDA events.
    """
    times = []
    for _ in range(repeats):
        start, end, elapsed_ms = events()
        start.record()
        for _ in range(iters):
            fn()
        end.record()
        end.synchronize()
        times.append(elapsed_ms(start, end) / 1e3 / iters)
    return float(np.median(times))


def timer(events: Callable[[], tuple]) -> Callable[[Op], float]:
    """time(fn) → seconds per call: warm-up, a loop of ≈ 20 ms, the median of 5 loops."""

    def time_fn(fn) -> float:
        for _ in range(3):
            fn()
        t = _event_time(fn, 10, events, repeats=1)
        iters = int(min(1000, max(10, 0.02 / max(t, 1e-7))))
        return _event_time(fn, iters, events)

    return time_fn


GRAPH_CALLS = 20  # calls of an op captured in one CUDA graph for its device time


class Timed(float):
    """Seconds per call, with ``mode``: 'graph' (device time of calls replayed from a CUDA
    graph: no launch cost) or 'eager' (a loop of calls, host launch cost included where it
    exceeds the kernel's), and ``eager``, the eager loop's seconds per call."""

    mode = "eager"
    eager: float | None = None
    graph_error: str | None = None  # why the calls could not be captured


def graph_timer(eager_time: Callable[[Op], float], capture: Capture) -> Callable[[Op], Timed]:
    """time(fn) → ``Timed``: the device time per call inside a CUDA graph of GRAPH_CALLS
    calls (``capture(fn, calls)`` gives a replay function, or raises), else the eager time.

    Tiny kernels launched from Python are timed by their launch cost, not by themselves
    (a Numba launch costs ≈ 60 µs of host time): the graph's replay shows the kernels."""

    def time_fn(fn) -> Timed:
        eager = eager_time(fn)
        try:
            replay = capture(fn, GRAPH_CALLS)
        except Exception as exc:  # capture refused: the eager loop is all there is
            t = Timed(eager)
            t.graph_error = f"{type(exc).__name__}: {str(exc)[:200]}"
        else:  # an error while replaying is a real one: not caught
            t = Timed(eager_time(replay) / GRAPH_CALLS)
            t.mode = "graph"
        t.eager = eager
        return t

    return time_fn


def cupy_capture(cp: Any) -> Capture:
    """capture(fn, calls) for CuPy: fn called ``calls`` times into a graph (its own memory
    pool and stream, both kept with it); returns the replay."""

    def capture(fn, calls):
        pool, stream = cp.cuda.MemoryPool(), cp.cuda.Stream(non_blocking=True)

        def calls_of_fn() -> None:
            for _ in range(calls):
                fn()

        with cp.cuda.using_allocator(pool.malloc), stream:
            fn()  # warm on this stream and pool
            stream.synchronize()
            graph = capture_graph(stream, calls_of_fn)

        def replay() -> None:
            graph.launch(stream=cp.cuda.get_current_stream())

        replay.keeps = (pool, stream)  # the graph's memory and stream live as long as it
        return replay

    return capture


def torch_capture(torch: Any) -> Capture:
    """capture(fn, calls) for PyTorch: ``torch.cuda.CUDAGraph``, warmed on a side stream."""

    def capture(fn, calls):
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                fn()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            for _ in range(calls):
                fn()
        return graph.replay

    return capture


def cupy_events(cp: Any) -> Callable[[], tuple]:
    def events():
        return cp.cuda.Event(), cp.cuda.Event(), cp.cuda.get_elapsed_time

    return events


def torch_events(torch: Any) -> Callable[[], tuple]:
    def events():
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        return s, e, lambda a, b: a.elapsed_time(b)

    return events
