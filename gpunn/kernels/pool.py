"""Numba CUDA kernels for pooling (see ``gpunn.functions.pool`` for the maths) and launchers.

- ``pool_forward_kernel``: one thread per y[n, c, i, j]: for "max" the window's maximum
  and the row-major index of its first maximum (the argmax); for "mean" Σ window / p²;
  for "l2" sqrt(Σ window²).
- ``pool_backward_kernel``: one thread per ga[n, c, h, v], a gather from the one
  window covering (h, v) (0 on the ignored border): no atomics, deterministic.

Built by ``pool_kernels`` once per (dtype, channels, height, width, window, kind): the
sizes and the kind are compile-time constants, so the index arithmetic has no division
at run time and each kernel holds only its kind's branch; the batch size stays a run-time
value. Arrays are read through their strides: the 'gemm' convolution's z is an (N, C, …)
view of (C, N, …) memory, and ga is laid out as a is. float32 arithmetic stays float32.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from numba import cuda

from gpunn.backend import get_array_module
from gpunn.kernels.launch import launch, scalar_type, unravel

MAX, MEAN, L2 = 0, 1, 2
KINDS = {"max": MAX, "mean": MEAN, "l2": L2}


@functools.cache
def pool_kernels(dtype: np.dtype, C: int, H: int, W: int, p: int, kind: int):
    """(forward, backward) for a (N, C, H, W) input, p×p windows, pooling ``kind``."""
    real = scalar_type(dtype)
    PH, PW = H // p, W // p
    area = real(p * p)
    pooled, full = (0, C, PH, PW), (0, C, H, W)  # compile-time shapes for unravel (N unused)

    @cuda.jit
    def pool_forward_kernel(a, y, argmax):
        """y[n, c, i, j] (and argmax for MAX) from the window at (i·p, j·p)."""
        t = cuda.grid(1)
        if t >= y.size:
            return
        n, c, i, j = unravel(t, pooled)
        if kind == MAX:
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
        else:
            acc = real(0)
            for u in range(p):
                for v in range(p):
                    e = a[n, c, i * p + u, j * p + v]
                    acc += e * e if kind == L2 else e
            y[n, c, i, j] = math.sqrt(acc) if kind == L2 else acc / area

    @cuda.jit
    def pool_backward_kernel(gy, a, y, argmax, ga):
        """ga[n, c, h, v] from the window (i, j) = (h // p, v // p) covering it, else 0."""
        t = cuda.grid(1)
        if t >= ga.size:
            return
        n, c, h, v = unravel(t, full)
        i, j = h // p, v // p
        g = real(0)
        if i < PH and j < PW:
            if kind == MAX:
                if argmax[n, c, i, j] == (h - i * p) * p + (v - j * p):
                    g = gy[n, c, i, j]
            elif kind == MEAN:
                g = gy[n, c, i, j] / area
            elif y[n, c, i, j] != 0:
                g = gy[n, c, i, j] / y[n, c, i, j] * a[n, c, h, v]
        ga[n, c, h, v] = g

    return pool_forward_kernel, pool_backward_kernel


def _or_unread(argmax: Any, xp: Any) -> Any:
    """argmax, or, where there is none (mean, l2: the kernels do not read it), an int8 one."""
    return argmax if argmax is not None else xp.zeros((1, 1, 1, 1), "int8")


def _kernels(a: Any, size: int, kind: str):
    N, C, H, W = a.shape
    return pool_kernels(np.dtype(a.dtype), C, H, W, int(size), KINDS[kind])


def pool_forward(a: Any, size: int, kind: str = "max") -> tuple[Any, Any | None]:
    """(y, argmax or None) on the device (shapes already checked by the caller)."""
    from gpunn.functions.pool import argmax_dtype

    xp = get_array_module(a)
    N, C, H, W = a.shape
    y = xp.empty((N, C, H // size, W // size), a.dtype)
    argmax = xp.empty(y.shape, argmax_dtype(size)) if kind == "max" else None
    launch(_kernels(a, size, kind)[0], y.size, a, y, _or_unread(argmax, xp))
    return y, argmax


def pool_backward(gy: Any, a: Any, y: Any, argmax: Any, size: int, kind: str = "max") -> Any:
    """ga = ∂C/∂a (N, C, H, W) on the device, one launch; laid out in memory as a is (the
    (F, N, …) z of the 'gemm' convolution gives an (F, N, …) ga, which its backward reads
    as a matrix without a copy)."""
    xp = get_array_module(a)
    ga = xp.empty_like(a)
    y = gy if y is None else y  # read only for "l2"
    launch(_kernels(a, size, kind)[1], ga.size, gy, a, y, _or_unread(argmax, xp), ga)
    return ga
