"""Convolution as matrix products: Numba CUDA im2col / col2im kernels around cuBLAS.

Written 2026-12-01 and tested under Numba's simulator; not yet run on a GPU.

With cols[(c, k, l), (n, i, j)] = x[n, c, i·s + k − p, j·s + l − p] (0 outside x), a
(C·KH·KW, N·OH·OW) matrix, and w2 = w as (F, C·KH·KW):

    z  = w2 · cols              (F, N·OH·OW): z laid out (F, N, OH, OW), returned as an
                                (N, F, OH, OW) view, as the CPU path does
    gw = gz · colsᵀ             gz read as (F, N·OH·OW): the layout pool_backward keeps
    gx = col2im(w2ᵀ · gz)       one thread per gx[n, c, h, v], a gather over the (k, l)
                                whose window covers (h, v): no atomics, deterministic

The products go to ``gpunn.functions.linear.matmul`` (cuBLAS on the GPU; NumPy under the
simulator, where the kernels run on NumPy arrays). Examples go in chunks whose cols stay
under CHUNK_BYTES (conv2 at m = 256: four chunks, of 65 examples and the last of 61), so
the temporaries stay small at any batch size; each chunk's product writes its columns of
z, adds to gw (β = 1) or gives those examples' gx. cols is made again in backward rather
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
from gpunn.kernels.launch import SIMULATOR, launch, launch_blocks, scalar_type, unravel

COLUMN_THREADS = 32 if SIMULATOR else 128  # threads a block of im2col, along (n, i, j)
GRID_Y = 65535  # the most blocks along a grid's y (im2col's rows (c, k, l) beyond: more launches)
CHUNK_BYTES = 8 << 20  # the most bytes of cols at once: memory stays bounded at any batch


def out_size(size: int, k: int, stride: int, pad: int) -> int:
    """Output rows (or columns) of a convolution: (size + 2·pad − k) // stride + 1."""
    return (size + 2 * pad - k) // stride + 1


@functools.cache
def im2col_kernel(dtype: np.dtype, C: int, H: int, W: int, KH: int, KW: int, s: int, p: int):
    """cols (C·KH·KW, N·OH·OW) from x (N, C, H, W); rows r0 … r0 + grid y − 1 by a grid of
    (⌈N·OH·OW / COLUMN_THREADS⌉, up to GRID_Y) blocks."""
    real = scalar_type(dtype)
    OH, OW = out_size(H, KH, s, p), out_size(W, KW, s, p)

    @cuda.jit
    def conv_im2col_kernel(x, r0, cols):
        q = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
        if q >= cols.shape[1]:
            return
        r = r0 + cuda.blockIdx.y
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
    OH, OW = out_size(H, KH, s, p), out_size(W, KW, s, p)
    shape = (0, C, H, W)  # compile-time, for unravel (N unused)

    @cuda.jit
    def conv_col2im_kernel(gcols, gx):
        t = cuda.grid(1)
        if t >= gx.size:
            return
        n, c, h, v = unravel(t, shape)
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


def chunks(n: int, per_example: int, itemsize: int) -> list[tuple[int, int]]:
    """[(n0, n1)]: examples 0..n in runs whose cols (``per_example`` values each) stay
    under CHUNK_BYTES; at least one example a run, none empty."""
    size = max(1, min(n, CHUNK_BYTES // max(1, per_example * itemsize)))
    return [(n0, min(n, n0 + size)) for n0 in range(0, n, size)]


def _im2col(x: Any, KH: int, KW: int, stride: int, pad: int, OH: int, OW: int) -> Any:
    N, C, H, W = x.shape
    cols = get_array_module(x).empty((C * KH * KW, N * OH * OW), x.dtype)
    kernel = im2col_kernel(np.dtype(x.dtype), C, H, W, KH, KW, stride, pad)
    for r0 in range(0, cols.shape[0], GRID_Y):  # one launch unless C·KH·KW > GRID_Y
        blocks = (-(-cols.shape[1] // COLUMN_THREADS), min(GRID_Y, cols.shape[0] - r0))
        launch_blocks(kernel, blocks, COLUMN_THREADS, x, r0, cols)
    return cols


def conv_forward(x: Any, w: Any, stride: int = 1, pad: int = 0) -> Any:
    """z (N, F, OH, OW), a view of (F, N, OH, OW) memory: per chunk of examples, im2col,
    then one product into z's columns of those examples."""
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH, OW = out_size(H, KH, stride, pad), out_size(W, KW, stride, pad)
    P = OH * OW
    z = get_array_module(x).empty((F, N * P), x.dtype)
    w2 = w.reshape(F, -1)
    for n0, n1 in chunks(N, w2.shape[1] * P, x.dtype.itemsize):
        cols = _im2col(x[n0:n1], KH, KW, stride, pad, OH, OW)
        matmul(w2, cols, out=z[:, n0 * P : n1 * P])
    return z.reshape(F, N, OH, OW).transpose(1, 0, 2, 3)


def _gz_matrix(gz: Any) -> Any:
    """gz (N, F, OH, OW) as (F, N·OH·OW): a view when gz is laid out (F, N, …), else a copy."""
    xp = get_array_module(gz)
    N, F, OH, OW = gz.shape
    return xp.ascontiguousarray(gz.transpose(1, 0, 2, 3)).reshape(F, N * OH * OW)


def _col2im(g: Any, w: Any, gx: Any, stride: int, pad: int) -> None:
    """gx (n, C, H, W) = col2im(w2ᵀ · g) for g the (F, n·OH·OW) error of those examples."""
    C, H, W = gx.shape[1:]
    F, _, KH, KW = w.shape
    gcols = matmul(w.reshape(F, -1), g, trans_a=True)  # (C·KH·KW, n·OH·OW)
    kernel = col2im_kernel(np.dtype(g.dtype), C, H, W, KH, KW, stride, pad)
    launch(kernel, gx.size, gcols, gx)


def conv_backward_input(gz: Any, w: Any, x_shape: tuple, stride: int = 1, pad: int = 0) -> Any:
    """gx = ∂C/∂x (x_shape) alone: per chunk of examples, one product and col2im."""
    return conv_backward(gz, None, w, stride, pad, need_gx=True, x_shape=x_shape)[0]


def conv_backward(
    gz: Any, x: Any, w: Any, stride: int = 1, pad: int = 0, need_gx: bool = True,
    x_shape: tuple | None = None,
) -> tuple[Any | None, Any]:  # fmt: skip
    """(gx or None, gw), per chunk of examples: im2col, gw += gz·colsᵀ, and gx =
    col2im(w2ᵀ·gz) when asked. x None (with ``x_shape``): gx alone, gw None."""
    xp = get_array_module(gz)
    N, C, H, W = x.shape if x is not None else tuple(x_shape)
    F, _, KH, KW = w.shape
    OH, OW = gz.shape[2:]
    P = OH * OW
    gz2 = _gz_matrix(gz)
    gw = xp.zeros((F, C * KH * KW), gz.dtype) if x is not None and N == 0 else None
    gx = xp.empty((N, C, H, W), gz.dtype) if need_gx else None
    for i, (n0, n1) in enumerate(chunks(N, C * KH * KW * P, gz.dtype.itemsize)):
        g = gz2[:, n0 * P : n1 * P]
        if x is not None:
            cols = _im2col(x[n0:n1], KH, KW, stride, pad, OH, OW)
            if gw is None:
                gw = xp.empty((F, C * KH * KW), gz.dtype)
            matmul(g, cols, trans_b=True, out=gw, accumulate=i > 0)
        if need_gx:
            _col2im(g, w, gx[n0:n1], stride, pad)
    return gx, None if gw is None else gw.reshape(w.shape)
