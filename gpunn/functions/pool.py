"""Pooling over non-overlapping p×p windows, the second half of network3's ConvPoolLayer.

a (N, C, H, W) → y (N, C, H // p, W // p); rows and columns past the last full
window are ignored (network3's ``ignore_border=True``). With the window
W_ij = a[n, c, i·p : (i + 1)·p, j·p : (j + 1)·p]:

    max:  y = max W_ij            ∂y/∂a = 1 at the first maximum (row-major), 0 elsewhere
    mean: y = Σ W_ij / p²         ∂y/∂a = 1 / p²
    l2:   y = sqrt(Σ W_ij²)       ∂y/∂a = a / y   (taken as 0 where y = 0)

``pool_forward`` also returns, for "max", the argmax: the row-major index u·p + v
of the maximum within each window (int8 while p² fits, else int32), which
``pool_backward`` uses to route the error. Backward is a gather (each input
element reads the one window covering it): no atomics, deterministic.

NumPy arrays take the CPU path (a Numba loop, one pass, much faster than NumPy's
strided reductions; forward 2×2 max pooling, the book's, has its own unrolled loop);
CuPy arrays the CUDA kernels of ``gpunn.kernels.pool``.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from gpunn.backend import get_array_module
from gpunn.errors import ConfigError, ShapeError

POOL_KINDS = ("max", "mean", "l2")


def argmax_dtype(size: int) -> np.dtype:
    """The smallest integer dtype that holds a window index 0 .. size² − 1."""
    return np.dtype(np.int8 if size * size <= 127 else np.int32)


def pool_output_shape(a_shape: tuple[int, ...], size: int) -> tuple[int, int, int, int]:
    """(N, C, H // size, W // size), or a ShapeError when no full window fits."""
    try:
        size = operator.index(size)
    except TypeError:
        raise ConfigError(f"pool size must be an integer, got {size!r}") from None
    if size < 1:
        raise ConfigError(f"pool size must be at least 1, got {size}")
    a_shape = tuple(a_shape)
    if len(a_shape) != 4:
        raise ShapeError(f"pooling needs a (N, C, H, W), got shape {a_shape}")
    n, c, h, w = a_shape
    if h < size or w < size:
        raise ShapeError(f"a {a_shape} is smaller than one {size}×{size} pooling window")
    return n, c, h // size, w // size


def pool_forward(a: Any, size: int, kind: str = "max") -> tuple[Any, Any | None]:
    """(y, argmax): y (N, C, H // size, W // size); argmax for "max", else None."""
    shape = pool_output_shape(a.shape, size)
    _check_kind(kind)
    _check_dtype(a)
    if get_array_module(a) is not np:
        from gpunn.kernels import pool as kernels

        return kernels.pool_forward(a, int(size), kind)
    from gpunn.kernels import cpu
    from gpunn.kernels.threads import over_examples

    y = np.empty(shape, a.dtype)
    argmax = np.empty(shape, argmax_dtype(size)) if kind == "max" else None
    am = _or_dummy(argmax, np.int8)

    def work(lo, hi):
        part = am if argmax is None else am[lo:hi]
        if size == 2 and kind == "max":  # the common case, unrolled: 2–3× faster
            cpu.maxpool2_forward(*_planes_in_memory_order(a[lo:hi], y[lo:hi], part))
        else:
            cpu.pool_forward(a[lo:hi], int(size), cpu.KINDS[kind], y[lo:hi], part)

    over_examples(shape[0], work, elements=a.size, blas=False)
    return y, argmax


def pool_backward(gy: Any, a: Any, y: Any, argmax: Any, size: int, kind: str = "max") -> Any:
    """ga = ∂C/∂a (shape and memory layout of a) from gy = ∂C/∂y."""
    shape = pool_output_shape(a.shape, size)
    _check_kind(kind)
    _check_dtype(a)
    if tuple(gy.shape) != shape or (y is not None and tuple(y.shape) != shape):
        got = f"gy {tuple(gy.shape)}" + (f" and y {tuple(y.shape)}" if y is not None else "")
        raise ShapeError(f"{got} do not match the pooled shape {shape} of a {tuple(a.shape)}")
    if kind == "max" and (argmax is None or tuple(argmax.shape) != shape):
        got = None if argmax is None else tuple(argmax.shape)
        raise ShapeError(f"max pooling backward needs argmax of shape {shape}, got {got}")
    if kind == "l2" and y is None:
        raise ShapeError("l2 pooling backward needs y, the forward output")
    if get_array_module(a) is not np:
        from gpunn.kernels import pool as kernels

        return kernels.pool_backward(gy, a, y, argmax, int(size), kind)
    from gpunn.kernels import cpu
    from gpunn.kernels.threads import over_examples

    ga = np.empty_like(a)  # keeps a's layout, e.g. the (F, N, ...) one of conv_forward's z
    y_, am = _or_dummy(y, a.dtype), _or_dummy(argmax, np.int8)

    def work(lo, hi):
        y_part = y_ if y is None else y_[lo:hi]
        am_part = am if argmax is None else am[lo:hi]
        cpu.pool_backward(
            gy[lo:hi], a[lo:hi], y_part, am_part, int(size), cpu.KINDS[kind], ga[lo:hi]
        )

    over_examples(shape[0], work, elements=a.size, blas=False)
    return ga


def _check_kind(kind: str) -> None:
    if kind not in POOL_KINDS:
        raise ConfigError(f"unknown pooling kind {kind!r}: choose one of {', '.join(POOL_KINDS)}")


def _check_dtype(a: Any) -> None:
    if np.dtype(a.dtype) not in (np.float32, np.float64):
        raise TypeError(f"pooling needs a float32 or float64 array, got {a.dtype}")


def _planes_in_memory_order(a: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, ...]:
    """(a, *others) with their two leading axes swapped when that makes a C-contiguous.

    Pooling treats each (n, c) plane alone, so the order of the planes is free; Numba
    compiles faster loops for contiguous memory (2× on conv_forward's (F, N, …) z).
    """
    swapped = a.transpose(1, 0, 2, 3)
    if a.flags.c_contiguous or not swapped.flags.c_contiguous:
        return (a, *others)
    return (swapped, *(x.transpose(1, 0, 2, 3) for x in others))


def _or_dummy(array: Any, dtype: Any) -> Any:
    """``array``, or a tiny stand-in of ``dtype`` for an argument the kind does not read."""
    return np.zeros((1, 1, 1, 1), dtype) if array is None else array
