"""Convolution as matrix products: Numba CUDA im2col / col2im kernels around cuBLAS.

With cols[(c, k, l), (n, i, j)] = x[n, c, i·s + k − p, j·s + l − p] (0 outside x), a
(C·KH·KW, N·OH·OW) matrix, and w2 = w as (F, C·KH·KW):

    z  = w2 · cols              (F, N·OH·OW): z laid out (F, N, OH, OW), returned as an
                                (N, F, OH, OW) view, as the CPU path does
    gw = gz · colsᵀ             gz read as (F, N·OH·OW): the layout pool_backward keeps
    gx = col2im(w2ᵀ · gz)       one thread per gx[n, c, h, v], a gather over the (k, l)
                                whose window covers (h, v): no atomics, deterministic

The products go to ``gpunn.functions.linear.matmul`` (cuBLAS on the GPU; NumPy under the
simulator, where the kernels run on NumPy arrays). cols is made again in backward rather
than kept from forward (less memory; one more memory-bound pass). Both kernels are built
per (dtype, layer shape, stride, padding), so every size is a compile-time constant and
the index arithmetic is multiplications and shifts; cols has one block row per
(c, k, l) and the threads of a block run along (n, i, j), so reads and writes coalesce.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from numba import cuda

from gpunn.backend import get_array_module
from gpunn.functions.linear import matmul
from gpunn.kernels.launch import SIMULATOR, launch, launch_blocks, scalar_type

COLUMN_THREADS = 32 if SIMULATOR else 128  # threads a block of im2col, along (n, i, j)


@functools.cache
def im2col_kernel(dtype: np.dtype, C: int, H: int, W: int, KH: int, KW: int, s: int, p: int):
    """cols (C·KH·KW, N·OH·OW) from x (N, C, H, W); grid (⌈N·OH·OW / COLUMN_THREADS⌉,
    C·KH·KW)."""
    real = scalar_type(dtype)
    OH, OW = (H + 2 * p - KH) // s + 1, (W + 2 * p - KW) // s + 1

    @cuda.jit
    def conv_im2col_kernel(x, cols):
        q = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
        if q >= cols.shape[1]:
            return
        r = cuda.blockIdx.y
        c, kl = r // (KH * KW), r % (KH * KW)
        n, ij = q // (OH * OW), q % (OH * OW)
        h = (ij // OW) * s + kl // KW - p
        v = (ij % OW) * s + kl % KW - p
        value = real(0)
        if 0 <= h < H and 0 <= v < W:
            value = x[n, c, h, v]
        cols[r, q] = value

    return conv_im2col_kernel


@functools.cache
def col2im_kernel(dtype: np.dtype, C: int, H: int, W: int, KH: int, KW: int, s: int, p: int):
    """gx (N, C, H, W) from gcols (C·KH·KW, N·OH·OW), one thread per gx element."""
    real = scalar_type(dtype)
    OH, OW = (H + 2 * p - KH) // s + 1, (W + 2 * p - KW) // s + 1

    @cuda.jit
    def conv_col2im_kernel(gcols, gx):
        t = cuda.grid(1)
        if t >= gx.size:
            return
        n, chv = t // (C * H * W), t % (C * H * W)
        c, hv = chv // (H * W), chv % (H * W)
        h, v = hv // W, hv % W
        total = real(0)
        for k in range(KH):
            hk = h + p - k  # = i·s for the output row i whose window row k is h
            if hk >= 0 and hk % s == 0 and hk // s < OH:
                for l in range(KW):
                    vl = v + p - l
                    if vl >= 0 and vl % s == 0 and vl // s < OW:
                        q = (n * OH + hk // s) * OW + vl // s
                        total += gcols[(c * KH + k) * KW + l, q]
        gx[n, c, h, v] = total

    return conv_col2im_kernel


def _im2col(x: Any, KH: int, KW: int, stride: int, pad: int, OH: int, OW: int) -> Any:
    N, C, H, W = x.shape
    cols = get_array_module(x).empty((C * KH * KW, N * OH * OW), x.dtype)
    kernel = im2col_kernel(np.dtype(x.dtype), C, H, W, KH, KW, stride, pad)
    blocks = (-(-cols.shape[1] // COLUMN_THREADS), cols.shape[0])
    launch_blocks(kernel, blocks, COLUMN_THREADS, x, cols)
    return cols


def conv_forward(x: Any, w: Any, stride: int = 1, pad: int = 0) -> Any:
    """z (N, F, OH, OW), a view of (F, N, OH, OW) memory: im2col, then one product."""
    N, _, H, W = x.shape
    F, _, KH, KW = w.shape
    OH, OW = (H + 2 * pad - KH) // stride + 1, (W + 2 * pad - KW) // stride + 1
    cols = _im2col(x, KH, KW, stride, pad, OH, OW)
    z = matmul(w.reshape(F, -1), cols)  # (F, N·OH·OW)
    return z.reshape(F, N, OH, OW).transpose(1, 0, 2, 3)


def _gz_matrix(gz: Any) -> Any:
    """gz (N, F, OH, OW) as (F, N·OH·OW): a view when gz is laid out (F, N, …), else a copy."""
    xp = get_array_module(gz)
    N, F, OH, OW = gz.shape
    return xp.ascontiguousarray(gz.transpose(1, 0, 2, 3)).reshape(F, N * OH * OW)


def _col2im(gz2: Any, w: Any, x_shape: tuple, stride: int, pad: int) -> Any:
    """gx (x_shape) = col2im(w2ᵀ · gz2)."""
    C, H, W = x_shape[1:]
    F, _, KH, KW = w.shape
    gcols = matmul(w.reshape(F, -1), gz2, trans_a=True)  # (C·KH·KW, N·OH·OW)
    gx = get_array_module(gz2).empty(x_shape, gz2.dtype)
    kernel = col2im_kernel(np.dtype(gz2.dtype), C, H, W, KH, KW, stride, pad)
    launch(kernel, gx.size, gcols, gx)
    return gx


def conv_backward_input(gz: Any, w: Any, x_shape: tuple, stride: int = 1, pad: int = 0) -> Any:
    """gx = ∂C/∂x (x_shape) alone: one product and col2im."""
    return _col2im(_gz_matrix(gz), w, tuple(x_shape), stride, pad)


def conv_backward(
    gz: Any, x: Any, w: Any, stride: int = 1, pad: int = 0, need_gx: bool = True
) -> tuple[Any | None, Any]:
    """(gx or None, gw): im2col, gw = gz·colsᵀ, and gx = col2im(w2ᵀ·gz) when asked."""
    KH, KW = w.shape[2:]
    OH, OW = gz.shape[2:]
    gz2 = _gz_matrix(gz)
    cols = _im2col(x, KH, KW, stride, pad, OH, OW)
    gw = matmul(gz2, cols, trans_b=True).reshape(w.shape)
    gx = _col2im(gz2, w, x.shape, stride, pad) if need_gx else None
    return gx, gw
