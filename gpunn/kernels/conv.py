"""Numba CUDA kernels for convolution (see ``gpunn.functions.conv`` for the maths) and launchers.

- ``conv_forward_kernel``: one thread per z[n, f, i, j], a direct sum over (c, k, l).
- ``conv_backward_input_kernel``: one thread per gx[n, c, h, v], a gather over the
  (f, k, l) whose window covers (h, v): no atomics, deterministic.
- ``conv_backward_weight_kernel``: one block per gw[f, c, k, l]; its threads stride
  over the N·OH·OW terms, then add their partial sums in shared memory (a tree,
  fixed order: deterministic). Enough blocks at batch 10 (F·C·KH·KW of them) and no
  atomics.

Each kernel is built once per dtype by ``kernels(dtype)``, so float32 accumulates
in float32 and float64 in float64. The launchers allocate outputs with the input's
own array module (CuPy, or NumPy in the simulator). A fused conv + max-pool + bias +
activation kernel for small batches would sit beside these and use the same launcher.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any

import numpy as np
from numba import cuda

from gpunn.backend import get_array_module
from gpunn.kernels.launch import SIMULATOR, launch, launch_blocks, scalar_type, unravel

WEIGHT_THREADS = 128  # most threads per block of the weight-gradient reduction


def kernels(dtype: Any) -> SimpleNamespace:
    """The three convolution kernels for float32 or float64 arrays."""
    return _build(np.dtype(dtype))  # np.float32 and dtype("float32"): one build


@functools.cache
def _build(dtype: np.dtype) -> SimpleNamespace:
    real = scalar_type(dtype)

    @cuda.jit
    def conv_forward_kernel(x, w, stride, pad, z):
        """z[n, f, i, j] = Σ_c Σ_k Σ_l x[n, c, i·s + k − p, j·s + l − p] · w[f, c, k, l]."""
        t = cuda.grid(1)
        if t >= z.size:
            return
        n, f, i, j = unravel(t, z.shape)
        C, KH, KW = w.shape[1], w.shape[2], w.shape[3]
        H, W = x.shape[2], x.shape[3]
        acc = real(0)
        for c in range(C):
            for k in range(KH):
                h = i * stride + k - pad
                if h >= 0 and h < H:
                    for l in range(KW):
                        v = j * stride + l - pad
                        if v >= 0 and v < W:
                            acc += x[n, c, h, v] * w[f, c, k, l]
        z[n, f, i, j] = acc

    @cuda.jit
    def conv_backward_input_kernel(gz, w, stride, pad, gx):
        """gx[n, c, h, v] = Σ gz[n, f, i, j] · w[f, c, k, l], i·s + k − p = h, j·s + l − p = v."""
        t = cuda.grid(1)
        if t >= gx.size:
            return
        n, c, h, v = unravel(t, gx.shape)
        F, KH, KW = w.shape[0], w.shape[2], w.shape[3]
        OH, OW = gz.shape[2], gz.shape[3]
        acc = real(0)
        for k in range(KH):
            ti = h + pad - k  # = i·stride for the output row i that sees (h) through k
            if ti >= 0 and ti % stride == 0 and ti // stride < OH:
                i = ti // stride
                for l in range(KW):
                    tj = v + pad - l
                    if tj >= 0 and tj % stride == 0 and tj // stride < OW:
                        j = tj // stride
                        for f in range(F):
                            acc += gz[n, f, i, j] * w[f, c, k, l]
        gx[n, c, h, v] = acc

    @cuda.jit
    def conv_backward_weight_kernel(gz, x, stride, pad, gw):
        """gw[f, c, k, l] = Σ_n Σ_i Σ_j gz[n, f, i, j] · x[n, c, i·s + k − p, j·s + l − p].

        One block per weight; blockDim.x a power of 2, at most WEIGHT_THREADS.
        """
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        f, c, k, l = unravel(cuda.blockIdx.x, gw.shape)
        N, OH, OW = gz.shape[0], gz.shape[2], gz.shape[3]
        H, W = x.shape[2], x.shape[3]
        partial = cuda.shared.array(WEIGHT_THREADS, real)
        acc = real(0)
        r = tid
        while r < N * OH * OW:  # r runs over (n, i, j), consecutive threads on consecutive j
            j = r % OW
            i = (r // OW) % OH
            n = r // (OW * OH)
            h = i * stride + k - pad
            v = j * stride + l - pad
            if h >= 0 and h < H and v >= 0 and v < W:
                acc += gz[n, f, i, j] * x[n, c, h, v]
            r += nt
        partial[tid] = acc
        cuda.syncthreads()
        half = nt // 2
        while half > 0:  # every thread runs every step: syncthreads is never divergent
            if tid < half:
                partial[tid] += partial[tid + half]
            cuda.syncthreads()
            half //= 2
        if tid == 0:
            gw[f, c, k, l] = partial[0]

    return SimpleNamespace(
        conv_forward_kernel=conv_forward_kernel,
        conv_backward_input_kernel=conv_backward_input_kernel,
        conv_backward_weight_kernel=conv_backward_weight_kernel,
    )


def conv_forward(x: Any, w: Any, stride: int = 1, pad: int = 0) -> Any:
    """z (N, F, OH, OW) = x ⋆ w on the device (shapes already checked by the caller)."""
    xp = get_array_module(x)
    N, _, H, W = x.shape
    F, _, KH, KW = w.shape
    z = xp.empty(
        (N, F, (H + 2 * pad - KH) // stride + 1, (W + 2 * pad - KW) // stride + 1), x.dtype
    )
    launch(kernels(x.dtype).conv_forward_kernel, z.size, x, w, stride, pad, z)
    return z


def conv_backward(
    gz: Any,
    x: Any,
    w: Any,
    stride: int = 1,
    pad: int = 0,
    need_gx: bool = True,
    weight_threads: int | None = None,
) -> tuple[Any | None, Any]:
    """(gx or None, gw) on the device: two launches, one when ``need_gx`` is False.

    ``weight_threads``: threads per block of the gw reduction, a power of 2 up to
    WEIGHT_THREADS (the default; 8 in the simulator, where each thread costs ~1 ms).
    """
    if weight_threads is None:
        weight_threads = 8 if SIMULATOR else WEIGHT_THREADS
    if weight_threads & (weight_threads - 1) or not 0 < weight_threads <= WEIGHT_THREADS:
        raise ValueError(f"weight_threads must be a power of 2 up to {WEIGHT_THREADS}")
    xp = get_array_module(x)
    k = kernels(x.dtype)
    gx = None
    if need_gx:
        gx = xp.empty(x.shape, x.dtype)
        launch(k.conv_backward_input_kernel, gx.size, gz, w, stride, pad, gx)
    gw = xp.empty(w.shape, w.dtype)
    launch_blocks(k.conv_backward_weight_kernel, gw.size, weight_threads, gz, x, stride, pad, gw)
    return gx, gw
