"""Launching Numba CUDA kernels on CuPy arrays, or on NumPy arrays in Numba's CUDA simulator.

On a GPU every launch goes on CuPy's current stream, so it is ordered with CuPy's
own work and never blocks the host. CuPy arrays are passed as Numba device views
built from their ``__cuda_array_interface__`` (no stream, so no synchronisation),
and kept (``VIEW_CACHE`` of them) keyed
by (pointer, shape, strides, type): building one costs tens of µs of Python per
argument (``cuda.as_cuda_array``), and the same buffers come back every step (the
weights, and CuPy's memory pool hands out the same blocks in the same order). A kept
view owns nothing: it is only used while the array it was looked up from is alive,
and any array with that key describes exactly the same memory. In the simulator
(``NUMBA_ENABLE_CUDASIM=1``) the kernels run as Python on the NumPy arrays
themselves, on stream 0.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import numpy as np
from numba import config, cuda

from gpunn import backend

SIMULATOR = bool(config.ENABLE_CUDASIM)
THREADS = 128  # threads per block for one-thread-per-element kernels
VIEW_CACHE = 1024  # device views kept for reuse

if not SIMULATOR:
    try:
        from numba.cuda.core import config as cuda_config
    except ImportError:  # numba-cuda before the config moved: numba's own
        cuda_config = config

    # Grids of under 128 blocks are the rule at mini-batch 10: without this, numba-cuda
    # calls warnings.warn on every such launch (an error under pytest's filterwarnings).
    # The environment too: numba-cuda re-reads its config from it before each compile.
    os.environ.setdefault("NUMBA_CUDA_LOW_OCCUPANCY_WARNINGS", "0")
    cuda_config.CUDA_LOW_OCCUPANCY_WARNINGS = 0

    # numba-cuda 0.30 registers an overload of np.row_stack, unguarded, the first time it
    # compiles a kernel; NumPy 2.5 removed that alias of np.vstack (the lent H100's image
    # pairs the two), which made every kernel compile fail with an AttributeError.
    if not hasattr(np, "row_stack"):
        setattr(np, "row_stack", np.vstack)  # noqa: B010 (the name ruff flags as removed)


@functools.cache
def scalar_type(dtype: Any) -> Any:
    """The Numba scalar type that kernels accumulate in: float32 or float64."""
    dtype = np.dtype(dtype)
    if dtype == np.float32:
        return cuda.float32
    if dtype == np.float64:
        return cuda.float64
    raise TypeError(f"the CUDA kernels take float32 or float64 arrays, got {dtype}")


@cuda.jit(device=True)
def unravel(t, shape):
    """The index (a, b, c, d) of flat position t in a C-ordered array of 4-D ``shape``."""
    d = t % shape[3]
    c = (t // shape[3]) % shape[2]
    b = (t // (shape[3] * shape[2])) % shape[1]
    return t // (shape[3] * shape[2] * shape[1]), b, c, d


def launch(kernel: Any, n_threads: int, *args: Any) -> None:
    """Run ``kernel`` with at least ``n_threads`` threads (one per element), THREADS a block."""
    if n_threads > 0:
        launch_blocks(kernel, (n_threads + THREADS - 1) // THREADS, THREADS, *args)


def launch_blocks(kernel: Any, blocks: int | tuple[int, ...], threads: int, *args: Any) -> None:
    """Run ``kernel[blocks, threads]`` (a grid of ``blocks``, an int or a tuple) on the
    current stream with device views of ``args``."""
    if min(blocks if isinstance(blocks, tuple) else (blocks,)) > 0:
        kernel[blocks, threads, current_stream()](*(_device_view(a) for a in args))


def current_stream() -> Any:
    """CuPy's current stream as a Numba stream; 0 in the simulator."""
    if SIMULATOR:
        return 0
    return _external_stream(backend.cuda_stream_handle())


@functools.lru_cache(maxsize=16)
def _external_stream(handle: int) -> Any:
    return cuda.external_stream(handle)


def _device_view(a: Any) -> Any:
    """A CuPy array as a Numba device array without a host sync; anything else unchanged."""
    if SIMULATOR:
        return a
    desc = getattr(a, "__cuda_array_interface__", None)
    if desc is None:
        return a
    return _view(desc["data"][0], desc["shape"], desc.get("strides"), desc["typestr"])


@functools.lru_cache(maxsize=VIEW_CACHE)
def _view(ptr: int, shape: tuple, strides: tuple | None, typestr: str) -> Any:
    """A Numba device array over memory it does not own (see the module's docstring)."""
    desc = {"version": 3, "data": (ptr, False), "shape": shape, "strides": strides}
    return cuda.from_cuda_array_interface({**desc, "typestr": typestr}, owner=None, sync=False)
