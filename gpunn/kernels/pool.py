"""Numba CUDA kernels for pooling (see ``gpunn.functions.pool`` for the maths) and launchers.

- ``maxpool_forward_kernel``: one thread per y[n, c, i, j]: the window's maximum and
  the row-major index of its first maximum (the argmax).
- ``pool_forward_kernel``: one thread per y[n, c, i, j] for "mean" and "l2".
- ``pool_backward_kernel``: one thread per ga[n, c, h, v], a gather from the one
  window covering (h, v) (0 on the ignored border): no atomics, deterministic.

Built once per dtype by ``kernels(dtype)``; float32 arithmetic stays float32.
"""

from __future__ import annotations

import functools
import math
from types import SimpleNamespace
from typing import Any

import numpy as np
from numba import cuda

from gpunn.backend import get_array_module
from gpunn.kernels.launch import launch, scalar_type, unravel

MAX, MEAN, L2 = 0, 1, 2
KINDS = {"max": MAX, "mean": MEAN, "l2": L2}


def kernels(dtype: Any) -> SimpleNamespace:
    """The pooling kernels for float32 or float64 arrays."""
    return _build(np.dtype(dtype))  # np.float32 and dtype("float32"): one build


@functools.cache
def _build(dtype: np.dtype) -> SimpleNamespace:
    real = scalar_type(dtype)

    @cuda.jit
    def maxpool_forward_kernel(a, p, y, argmax):
        """y = max of the p×p window at (i·p, j·p); argmax = u·p + v of its first maximum."""
        t = cuda.grid(1)
        if t >= y.size:
            return
        n, c, i, j = unravel(t, y.shape)
        m = a[n, c, i * p, j * p]
        best = 0
        for u in range(p):
            for v in range(p):
                e = a[n, c, i * p + u, j * p + v]
                if e > m:
                    m = e
                    best = u * p + v
        y[n, c, i, j] = m
        argmax[n, c, i, j] = best

    @cuda.jit
    def pool_forward_kernel(a, p, kind, y):
        """y = Σ window / p² (MEAN) or sqrt(Σ window²) (L2)."""
        t = cuda.grid(1)
        if t >= y.size:
            return
        n, c, i, j = unravel(t, y.shape)
        acc = real(0)
        for u in range(p):
            for v in range(p):
                e = a[n, c, i * p + u, j * p + v]
                acc += e * e if kind == L2 else e
        y[n, c, i, j] = math.sqrt(acc) if kind == L2 else acc / real(p * p)

    @cuda.jit
    def pool_backward_kernel(gy, a, y, argmax, p, kind, ga):
        """ga[n, c, h, v] from the window (i, j) = (h // p, v // p) covering it, else 0."""
        t = cuda.grid(1)
        if t >= ga.size:
            return
        n, c, h, v = unravel(t, ga.shape)
        i = h // p
        j = v // p
        g = real(0)
        if i < gy.shape[2] and j < gy.shape[3]:
            if kind == MAX:
                if argmax[n, c, i, j] == (h - i * p) * p + (v - j * p):
                    g = gy[n, c, i, j]
            elif kind == MEAN:
                g = gy[n, c, i, j] / real(p * p)
            elif y[n, c, i, j] != 0:
                g = gy[n, c, i, j] / y[n, c, i, j] * a[n, c, h, v]
        ga[n, c, h, v] = g

    return SimpleNamespace(
        maxpool_forward_kernel=maxpool_forward_kernel,
        pool_forward_kernel=pool_forward_kernel,
        pool_backward_kernel=pool_backward_kernel,
    )


def pool_forward(a: Any, size: int, kind: str = "max") -> tuple[Any, Any | None]:
    """(y, argmax or None) on the device (shapes already checked by the caller)."""
    from gpunn.functions.pool import argmax_dtype

    xp = get_array_module(a)
    N, C, H, W = a.shape
    y = xp.empty((N, C, H // size, W // size), a.dtype)
    k = kernels(a.dtype)
    if kind == "max":
        argmax = xp.empty(y.shape, argmax_dtype(size))
        launch(k.maxpool_forward_kernel, y.size, a, size, y, argmax)
        return y, argmax
    launch(k.pool_forward_kernel, y.size, a, size, KINDS[kind], y)
    return y, None


def pool_backward(gy: Any, a: Any, y: Any, argmax: Any, size: int, kind: str = "max") -> Any:
    """ga = ∂C/∂a (N, C, H, W) on the device, one launch; laid out in memory as a is (the
    (F, N, …) z of the 'gemm' convolution gives an (F, N, …) ga, which its backward reads
    as a matrix without a copy)."""
    xp = get_array_module(a)
    ga = xp.empty_like(a)
    if argmax is None:  # the kernel reads it only for "max": any int8 array will do
        argmax = xp.zeros((1, 1, 1, 1), "int8")
    y = gy if y is None else y  # read only for "l2"
    launch(kernels(a.dtype).pool_backward_kernel, ga.size, gy, a, y, argmax, size, KINDS[kind], ga)
    return ga
