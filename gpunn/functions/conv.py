"""Convolution, the first half of network3's ConvPoolLayer (pooling, bias and activation follow).

With stride s and zero padding p, x (N, C, H, W) and w (F, C, KH, KW) give z (N, F, OH, OW):

    z[n, f, i, j] = Σ_c Σ_k Σ_l x[n, c, i·s + k − p, j·s + l − p] · w[f, c, k, l]
    OH = (H + 2p − KH) // s + 1,   OW = (W + 2p − KW) // s + 1

This is cross-correlation: the kernel is not flipped. Theano's ``conv2d``, which
network3 used, flips it (a true convolution). Both learn the same networks; to
use weights trained with Theano here, flip them: ``w[:, :, ::-1, ::-1]``.

Backward, with gz = ∂C/∂z:

    gw[f, c, k, l] = Σ_n Σ_i Σ_j gz[n, f, i, j] · x[n, c, i·s + k − p, j·s + l − p]
    gx[n, c, h, v] = Σ_f Σ_k Σ_l gz[n, f, i, j] · w[f, c, k, l]
                     over the (i, j) with i·s + k − p = h and j·s + l − p = v

NumPy arrays take the CPU path, which is also the reference: im2col (a Numba
loop) and one BLAS product per chunk of examples, the chunk sized so that its
column matrix stays in cache. Its z is laid out (F, N, OH, OW) in memory, the
product's natural order, and returned as an (N, F, OH, OW) view; ``pool_*`` and
``conv_backward`` take that layout without copying. CuPy arrays go to
``gpunn.kernels.conv`` (imported only then), which runs them by its method: im2col /
col2im kernels around cuBLAS by default, or single Numba kernels.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from gpunn.backend import get_array_module
from gpunn.errors import ConfigError, DeviceError, ShapeError

CHUNK_BYTES = 1 << 20  # column-matrix bytes per chunk of examples (fits in L2/L3)


def conv_output_shape(
    x_shape: tuple[int, ...], w_shape: tuple[int, ...], stride: int = 1, pad: int = 0
) -> tuple[int, int, int, int]:
    """(N, F, OH, OW) of ``conv_forward`` for x (N, C, H, W) and w (F, C, KH, KW)."""
    stride, pad = _check_options(stride, pad)
    x_shape, w_shape = tuple(x_shape), tuple(w_shape)
    if len(x_shape) != 4 or len(w_shape) != 4:
        raise ShapeError(
            f"conv needs x (N, C, H, W) and w (F, C, KH, KW); got x {x_shape} and w {w_shape}"
        )
    n, c, h, w = x_shape
    f, cw, kh, kw = w_shape
    if c != cw:
        raise ShapeError(f"x {x_shape} has {c} channels but w {w_shape} expects {cw}")
    if min(kh, kw) < 1 or h + 2 * pad < kh or w + 2 * pad < kw:
        raise ShapeError(f"the kernel of w {w_shape} does not fit in x {x_shape} with pad={pad}")
    return n, f, (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1


def conv_forward(x: Any, w: Any, stride: int = 1, pad: int = 0) -> Any:
    """z (N, F, OH, OW) = x (N, C, H, W) ⋆ w (F, C, KH, KW), valid cross-correlation."""
    shape = conv_output_shape(x.shape, w.shape, stride, pad)
    xp = _check_arrays(x, w)
    if xp is not np:
        from gpunn.kernels import conv as kernels

        return kernels.conv_forward(x, w, int(stride), int(pad))
    return _forward_cpu(x, w, int(stride), int(pad), shape)


def conv_backward(
    gz: Any, x: Any, w: Any, stride: int = 1, pad: int = 0, need_gx: bool = True
) -> tuple[Any | None, Any]:
    """(gx, gw) = (∂C/∂x or None, ∂C/∂w) from gz = ∂C/∂z (N, F, OH, OW)."""
    shape = conv_output_shape(x.shape, w.shape, stride, pad)
    if tuple(gz.shape) != shape:
        raise ShapeError(
            f"gz {tuple(gz.shape)} does not match z {shape} of x {tuple(x.shape)} "
            f"and w {tuple(w.shape)}"
        )
    xp = _check_arrays(x, w, gz)
    if xp is not np:
        from gpunn.kernels import conv as kernels

        return kernels.conv_backward(gz, x, w, int(stride), int(pad), need_gx)
    return _backward_cpu(gz, x, w, int(stride), int(pad), need_gx)


def _check_options(stride: Any, pad: Any) -> tuple[int, int]:
    try:
        stride, pad = operator.index(stride), operator.index(pad)
    except TypeError:
        raise ConfigError(f"stride and pad must be integers, got {stride!r} and {pad!r}") from None
    if stride < 1 or pad < 0:
        raise ConfigError(f"conv needs stride >= 1 and pad >= 0, got stride={stride}, pad={pad}")
    return stride, pad


def _check_arrays(*arrays: Any) -> Any:
    """The common array module; all arrays float32, or all float64."""
    xp = get_array_module(*arrays)
    if any(get_array_module(a) is not xp for a in arrays):
        raise DeviceError("conv needs all its arrays on one device (all NumPy or all CuPy)")
    dtypes = {np.dtype(a.dtype) for a in arrays}
    if len(dtypes) != 1 or dtypes.pop() not in (np.float32, np.float64):
        names = ", ".join(str(a.dtype) for a in arrays)
        raise TypeError(f"conv needs arrays all float32 or all float64, got {names}")
    return xp


def _pad(x: np.ndarray, pad: int) -> np.ndarray:
    """x (N, C, H, W) with ``pad`` zeros around each image."""
    if pad == 0:
        return x
    n, c, h, w = x.shape
    xp = np.zeros((n, c, h + 2 * pad, w + 2 * pad), x.dtype)
    xp[:, :, pad : pad + h, pad : pad + w] = x
    return xp


def _column_chunks(xp, lo, hi, kh, kw, stride, oh, ow):
    """Yield (n0, n1, cols), cols (C·KH·KW, (n1 − n0)·OH·OW), for chunks of examples lo..hi.

    Each cols is the same buffer, overwritten by the next step: use it at once.
    """
    from gpunn.kernels import cpu

    c = xp.shape[1]
    k, p = c * kh * kw, oh * ow
    nb = max(1, min(hi - lo, CHUNK_BYTES // (k * p * xp.itemsize)))
    buf = np.empty(k * nb * p, xp.dtype)
    for n0 in range(lo, hi, nb):
        m = min(nb, hi - n0)
        cols = buf[: k * m * p].reshape(k, m * p)  # contiguous, unlike buf2d[:, :m·p]
        cpu.im2col(xp, n0, stride, cols.reshape(c, kh, kw, m, oh, ow))
        yield n0, n0 + m, cols


def _forward_cpu(x, w, stride, pad, shape):
    from gpunn.kernels.threads import over_examples

    n, f, oh, ow = shape
    p = oh * ow
    xp = _pad(x, pad)
    w2 = w.reshape(f, -1)
    zt = np.empty((f, n * p), x.dtype)  # z laid out (F, N, OH, OW)

    def work(lo, hi):
        for n0, n1, cols in _column_chunks(xp, lo, hi, *w.shape[2:], stride, oh, ow):
            np.matmul(w2, cols, out=zt[:, n0 * p : n1 * p])

    over_examples(n, work, elements=zt.size + w2.size * p)
    return zt.reshape(f, n, oh, ow).transpose(1, 0, 2, 3)


def _backward_cpu(gz, x, w, stride, pad, need_gx):
    from gpunn.kernels import cpu
    from gpunn.kernels.threads import over_examples

    n, c, h, v = x.shape
    f, _, kh, kw = w.shape
    oh, ow = gz.shape[2:]
    p = oh * ow
    gz2 = gz.transpose(1, 0, 2, 3).reshape(f, n * p)  # a view when gz is laid out (F, N, ...)
    w2t = w.reshape(f, -1).T
    xp = _pad(x, pad)
    gxp = np.empty(xp.shape, x.dtype) if need_gx else None

    def work(lo, hi):  # the part of gw from examples lo..hi; fills gxp[lo:hi]
        gw = np.zeros((f, c * kh * kw), x.dtype)
        part, gcols = np.empty_like(gw), None
        for n0, n1, cols in _column_chunks(xp, lo, hi, kh, kw, stride, oh, ow):
            g = gz2[:, n0 * p : n1 * p]
            gw += np.matmul(g, cols.T, out=part)
            if need_gx:
                if gcols is None:
                    gcols = np.empty(cols.size, x.dtype)  # the first chunk is the largest
                gc = np.matmul(w2t, g, out=gcols[: cols.size].reshape(cols.shape))
                cpu.col2im(gc.reshape(c, kh, kw, n1 - n0, oh, ow), n0, stride, gxp)
        return gw

    gw = sum(over_examples(n, work, elements=gz2.size + w2t.size * p))
    gx = None
    if need_gx:
        gx = gxp if pad == 0 else np.ascontiguousarray(gxp[:, :, pad : pad + h, pad : pad + v])
    return gx, gw.reshape(w.shape)
