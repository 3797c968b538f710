"""A stand-in for the CuPy calls ``gpunn.step`` makes around a graph, over NumPy.

With it (and ``_StepGraph.capture`` replaced by a recorder whose launch re-runs the
captured step), the graph path's logic runs on the CPU: buffers fed per step, the step
number and η read from them, recapture on new arrays, fallbacks. What it cannot test is
CUDA's capture itself, nor that nothing in the step is read on the host (a replay here
runs the Python again, so a value read on the host is read afresh, where a real graph
would keep the one read at capture); the GPU tests in tests/test_step.py do.
"""

import contextlib
import weakref
from types import SimpleNamespace

import numpy as np


class Stream:
    def __init__(self, non_blocking: bool = False) -> None:
        self.ptr = id(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    def record(self):
        return object()

    def wait_event(self, event) -> None:
        pass

    def synchronize(self) -> None:
        pass


class MemoryPool:
    def malloc(self, size):  # never used: allocations go through NumPy
        raise AssertionError("the stand-in pool allocates nothing")

    def total_bytes(self) -> int:
        return 0


class Replay:
    """What ``_StepGraph.capture`` is replaced by: launching re-runs backprop + update."""

    def __init__(self, graph) -> None:
        self.graph = weakref.proxy(graph)  # as a CUDA graph, it does not keep the step alive

    def launch(self) -> None:
        self.graph.backprop()
        self.graph.update()


def record_instead_of_capture(graph) -> None:
    graph.graph = Replay(graph)


def module() -> SimpleNamespace:
    cuda = SimpleNamespace(
        Stream=Stream,
        MemoryPool=MemoryPool,
        get_current_stream=Stream,
        using_allocator=lambda malloc: contextlib.nullcontext(),
    )
    return SimpleNamespace(cuda=cuda, empty=np.empty, zeros=np.zeros, copyto=np.copyto)
