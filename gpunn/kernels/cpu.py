"""Numba CPU loops behind the NumPy path of convolution and pooling.

These are the few steps that NumPy cannot do without large temporaries or slow
strided reductions: building the im2col matrix (and scattering it back), and
pooling in one pass with the argmax. The matrix products stay in NumPy (BLAS).
Each loop is single-threaded and releases the GIL: ``gpunn.kernels.threads`` runs
them on several ranges of examples at once (no second thread pool beside BLAS's).

Compiled on first use and cached on disk (``cache=True``). Imported lazily by
``gpunn.functions.conv`` and ``gpunn.functions.pool``.
"""

import numpy as np
from numba import njit

MAX, MEAN, L2 = 0, 1, 2
U = np.uint64  # unsigned indices: no negative-index wraparound checks, 3× faster loops
KINDS = {"max": MAX, "mean": MEAN, "l2": L2}


@njit(cache=True, nogil=True)
def im2col(x, n0, stride, cols):
    """cols[c, k, l, n, i, j] = x[n0 + n, c, i·stride + k, j·stride + l].

    x (N, C, H, W), already padded; cols (C, KH, KW, nb, OH, OW).
    """
    C, KH, KW, nb, OH, OW = cols.shape
    s = U(stride)
    for c in range(C):
        for n in range(nb):
            for k in range(KH):
                for i in range(OH):
                    row = x[n0 + n, c, i * stride + k]
                    for l in range(U(KW)):
                        out = cols[c, k, l, n, i]
                        for j in range(U(OW)):
                            out[j] = row[j * s + l]


@njit(cache=True, nogil=True)
def col2im(gcols, n0, stride, gx):
    """The adjoint of ``im2col``: gx[n0 + n] = Σ over windows of gcols (gx padded)."""
    C, KH, KW, nb, OH, OW = gcols.shape
    s = U(stride)
    for n in range(nb):
        for c in range(C):
            plane = gx[n0 + n, c]
            plane[:, :] = 0
            for k in range(KH):
                for i in range(OH):
                    row = plane[i * stride + k]
                    for l in range(U(KW)):
                        g = gcols[c, k, l, n, i]
                        for j in range(U(OW)):
                            row[j * s + l] += g[j]


@njit(cache=True, nogil=True)
def pool_forward(a, p, kind, y, argmax):
    """y[n, c, i, j] = max / mean / l2 of the p×p window at (i·p, j·p) of a.

    argmax (same shape as y) receives the row-major index in the window of the
    first maximum (kind MAX only; left untouched otherwise).
    """
    N, C, OH, OW = y.shape
    q = U(p)
    inv = 1.0 / (p * p)
    for n in range(N):
        for c in range(C):
            for i in range(U(OH)):
                for j in range(U(OW)):
                    h, w = i * q, j * q
                    if kind == MAX:
                        m = a[n, c, h, w]
                        best = U(0)
                        for u in range(q):
                            for v in range(q):
                                t = a[n, c, h + u, w + v]
                                if t > m:
                                    m = t
                                    best = u * q + v
                        y[n, c, i, j] = m
                        argmax[n, c, i, j] = best
                    else:
                        acc = 0.0
                        for u in range(q):
                            for v in range(q):
                                t = a[n, c, h + u, w + v]
                                acc += t * t if kind == L2 else t
                        y[n, c, i, j] = np.sqrt(acc) if kind == L2 else acc * inv


@njit(cache=True, nogil=True)
def maxpool2_forward(a, y, argmax):
    """``pool_forward`` for p = 2, kind MAX: the four compares unrolled, no inner loops.

    The same sequence of ``t > m`` as the general loop, so the same first maximum on
    ties and the same NaN handling (a NaN is kept only in the window's first place).
    """
    N, C, OH, OW = y.shape
    for n in range(N):
        for c in range(C):
            for i in range(U(OH)):
                r0, r1 = a[n, c, 2 * i], a[n, c, 2 * i + 1]
                yr, ar = y[n, c, i], argmax[n, c, i]
                for j in range(U(OW)):
                    m, best = r0[2 * j], 0
                    t = r0[2 * j + 1]
                    if t > m:
                        m, best = t, 1
                    t = r1[2 * j]
                    if t > m:
                        m, best = t, 2
                    t = r1[2 * j + 1]
                    if t > m:
                        m, best = t, 3
                    yr[j] = m
                    ar[j] = best


@njit(cache=True, nogil=True)
def pool_backward(gy, a, y, argmax, p, kind, ga):
    """ga = ∂C/∂a from gy = ∂C/∂y; each window writes only its own p×p block.

    MAX: gy at the argmax, 0 elsewhere; MEAN: gy / p²; L2: gy · a / y (0 where y = 0).
    The border that no window covers gets 0.
    """
    N, C, OH, OW = gy.shape
    q = U(p)
    inv = 1.0 / (p * p)
    for n in range(N):
        for c in range(C):
            ga[n, c] = 0
            for i in range(U(OH)):
                for j in range(U(OW)):
                    g = gy[n, c, i, j]
                    h, w = i * q, j * q
                    if kind == MAX:
                        k = U(argmax[n, c, i, j])
                        ga[n, c, h + k // q, w + k % q] = g
                        continue
                    if kind == L2:
                        g = g / y[n, c, i, j] if y[n, c, i, j] != 0 else g * 0
                    for u in range(q):
                        for v in range(q):
                            ga[n, c, h + u, w + v] = (
                                g * inv if kind == MEAN else g * a[n, c, h + u, w + v]
                            )
