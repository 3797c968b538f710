"""Splitting the CPU path's work over examples across the cores, one thread each.

``over_examples(n, work)`` runs ``work(lo, hi)`` on equal ranges of the batch at
once. The Numba loops release the GIL (``nogil=True``) and so does NumPy's matmul,
so the threads really run in parallel. While they run, OpenBLAS is set to one
thread: each of our threads then makes its own single-threaded products instead
of all of them sharing BLAS's pool, and the Numba loops, which BLAS's threads do
not cover, run in parallel too. On 2 cores this took the 20→40 convolution's
forward + backward at batch 256 from about 45 ms to 25 ms, PyTorch's time. Two
thread pools at once (Numba's ``parallel=True`` beside BLAS's) measured 10–100×
slower.

Where OpenBLAS cannot be found (another BLAS, another OS), work that calls BLAS
runs in the calling thread, as it would without this module.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import functools
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from gpunn import signals
from gpunn.errors import ConfigError

MIN_ELEMENTS = 1 << 15  # below this many array elements one thread is faster
# Below this many examples the split loses end to end: conv2-relu training on the 2-core VM
# measured 1,900 img/s split against 2,300 serial at m = 10, and no gain at 64 and 256
# (bench/NOTES.md). A convolutional network's evaluation batches (1,000 examples) are
# split whole by ``gpunn.replicas``, and this then runs serially inside each part; the
# data expansion's large batches still split here.
MIN_EXAMPLES = 512

_pool: tuple[int, ThreadPoolExecutor] | None = None
_blas_lock = threading.Lock()
_blas_depth = 0  # how many single_threaded_blas blocks are open
_blas_saved = 1  # OpenBLAS's thread count before the first of them
_blas_lowered = False  # set to 1 thread by a block, and not yet put back
_pool_lock = threading.Lock()
_inside = threading.local()  # .split: this thread already runs one part of a split


def workers() -> int:
    """The number of cores this process may run on, at most ``GPUNN_CPU_THREADS`` when set
    (1: all of gpunn's own CPU work in the calling thread, e.g. two runs side by side)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    limit = os.environ.get("GPUNN_CPU_THREADS", "").strip()
    if not limit:
        return cores
    if not limit.isdigit() or int(limit) < 1:
        raise ConfigError(f"GPUNN_CPU_THREADS must be a positive integer, got {limit!r}")
    return min(cores, int(limit))


def can_split(blas: bool = True) -> bool:
    """Whether ``split`` would really run parts at once here (not inside another part, and
    OpenBLAS under control when the work calls BLAS)."""
    return not getattr(_inside, "split", False) and not (blas and _openblas() is None)


def over_examples(
    n: int, work: Callable[[int, int], Any], elements: int, blas: bool = True
) -> list[Any]:
    """[work(lo, hi) for equal ranges covering 0..n], run in parallel when worth it.

    ``elements``: the size of the arrays involved, to keep small batches serial;
    ``blas``: whether ``work`` calls BLAS (then OpenBLAS must be controllable).
    """
    parts = min(workers(), n) if elements >= MIN_ELEMENTS and n >= MIN_EXAMPLES else 1
    return split(n, parts, work, blas)


def split(n: int, parts: int, work: Callable[[int, int], Any], blas: bool = True) -> list[Any]:
    """[work(lo, hi) for ``parts`` equal ranges covering 0..n], one thread each; range i
    starts at lo = n·i // parts.

    Serial (one range) when ``parts`` ≤ 1, when ``blas`` work cannot have OpenBLAS
    set to one thread, or inside another split: a part never splits again (the
    pool's threads would wait on themselves).
    """
    if parts <= 1 or not can_split(blas):
        return [work(0, n)]
    bounds = [n * i // parts for i in range(parts + 1)]
    errors = np.geterr()  # NumPy's error settings are per thread: the parts take the caller's
    with single_threaded_blas() if blas else contextlib.nullcontext():
        futures = [
            _executor().submit(_part, work, bounds[i], bounds[i + 1], errors) for i in range(parts)
        ]
        try:
            concurrent.futures.wait(futures)  # all parts end before BLAS's threads come back
        except BaseException:  # a Ctrl-C: the parts not started are dropped, the others end
            for future in futures:
                future.cancel()
            _wait_out(futures)
            raise
        return [f.result() for f in futures]


def _wait_out(futures) -> None:
    """Wait until every one of ``futures`` is done, through further KeyboardInterrupts
    (the parts take milliseconds; leaving before them would hand BLAS's threads back
    while they still run, and the next split would queue behind them)."""
    while not all(f.done() for f in futures):
        try:
            concurrent.futures.wait(futures)
        except KeyboardInterrupt:
            continue


def _part(work: Callable[[int, int], Any], lo: int, hi: int, errors: dict) -> Any:
    """work(lo, hi) in a pool thread, marked as inside a split, under ``errors``."""
    _inside.split = True
    try:
        with np.errstate(**errors):
            return work(lo, hi)
    finally:
        _inside.split = False


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """OpenBLAS limited to one thread inside the block (a no-op where it is not found).

    Blocks may overlap (calls from several user threads): the first one in saves
    the thread count, the last one out restores it. A KeyboardInterrupt in the middle of
    lowering it (between the count saved and the block counted) leaves ``_blas_lowered``
    set: the next block then keeps the count saved before, not the 1 it finds, and puts
    it back at its end.
    """
    global _blas_depth, _blas_saved, _blas_lowered
    controls = _openblas()
    if controls is None:
        yield
        return
    set_threads, get_threads = controls
    entered = False
    try:
        with _blas_lock:
            if _blas_depth == 0:
                if not _blas_lowered:
                    _blas_saved = get_threads()
                _blas_lowered = True
                set_threads(1)
            _blas_depth += 1
            entered = True
        yield
    finally:
        if entered:
            with _blas_lock:
                _blas_depth -= 1
                if _blas_depth == 0:
                    set_threads(_blas_saved)
                    _blas_lowered = False


def _executor() -> ThreadPoolExecutor:
    """One pool per process (a forked child makes its own: threads do not survive fork)."""
    global _pool
    with _pool_lock:  # two user threads' first splits: one pool
        if _pool is None or _pool[0] != os.getpid():
            pool = ThreadPoolExecutor(workers(), "gpunn-cpu", initializer=signals.block_here)
            _pool = (os.getpid(), pool)
        return _pool[1]


@functools.cache
def _openblas() -> tuple[Any, Any] | None:
    """(set_num_threads, get_num_threads) of the OpenBLAS that NumPy loaded, or None."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:
        return None
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in (("scipy_", "64_"), ("", ""), ("", "64_"), ("scipy_", "")):
            names = (f"{prefix}openblas_{f}_num_threads{suffix}" for f in ("set", "get"))
            found = [getattr(lib, name, None) for name in names]
            if all(found):
                return found[0], found[1]
    return None
