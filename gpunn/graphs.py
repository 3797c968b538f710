"""Capturing the work queued on a CuPy stream into a CUDA graph.

Used by the trainer's step (``gpunn.step``) and the kernel micro-benchmarks
(``gpunn.benchmark.events``). During capture nothing runs: each launch on the stream
is recorded, and the graph replays them all with one launch.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable
from typing import Any


def capture_graph(stream: Any, work: Callable[[], None]) -> Any:
    """The CUDA graph of what ``work()`` queues on ``stream`` (a CuPy stream, current
    during ``work``).

    Python's garbage collector waits until the capture has ended. If ``work`` raises, the
    capture is still ended, so that the stream can be used again, and ``work``'s error is
    the one raised (ending a capture that an operation already invalidated raises too;
    that second error says less and is dropped).
    """
    with _no_garbage_collection():
        stream.begin_capture()
        try:
            work()
        except BaseException:
            with contextlib.suppress(Exception):
                stream.end_capture()
            raise
        return stream.end_capture()


@contextlib.contextmanager
def _no_garbage_collection():
    """Python's cycle collector off for the capture: a collection there could free a CuPy
    memory pool or stream of an unreachable object, and a cudaFree (which synchronises
    the device) or cudaStreamDestroy while a stream captures may be refused or
    invalidate the capture."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
