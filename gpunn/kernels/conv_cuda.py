"""The Numba CUDA kernels of the 'tiled' and 'direct' convolution methods (see
``gpunn.functions.conv`` for the maths; ``gpunn.kernels.conv`` launches them).

- ``tiled_kernel(...)``, stride 1 (the book's case), both directions: one thread per
  output position and per TC output channels (compile-time, as are the channel count
  and the filter's size and padding), the block's TC filters in shared memory. Each input
  value read is used for TC multiply-adds and every weight read is a shared-memory
  broadcast. The backward pass to the input is the same kernel: gx is the convolution of
  gz with w transposed (F ↔ C) and flipped, padded by KH − 1 − p.
- ``conv_forward_kernel``: one thread per z[n, f, i, j], a direct sum over (c, k, l); for
  strides above 1, or filters too large for shared memory.
- ``conv_backward_input_kernel``: one thread per gx[n, c, h, v], a gather over the
  (f, k, l) whose window covers (h, v): no atomics, deterministic; the same cases.
- ``weight_kernel(dtype, KH, KW, FT)``, the weight gradient for filters of up to
  SMALL_FILTER weights (the book's 5×5, see ``gpunn.kernels.conv``): one block per (FT
  filters, c) and per chunk of the batch; each thread walks its share of the (n, i, j)
  positions, reads the FT values gz[n, f, i, j] once and adds each times the KH·KW inputs
  under the window (each read once, for all FT filters) to FT·KH·KW sums it keeps in
  registers; the block then adds its threads' sums in a fixed order (deterministic, no
  atomics), and the chunks' results are summed by one CuPy reduction when there are
  several. Chunks (``weight_chunks``) give the GPU enough blocks when F·C is small
  (conv1: 20).
- ``conv_backward_weight_kernel``, for larger filters: one block per gw[f, c, k, l];
  its threads stride over the N·OH·OW terms (three integer divisions and one
  multiply-add each), then add their partial sums in shared memory (a tree, fixed
  order: deterministic).

The direct kernels are built once per dtype by ``kernels(dtype)``, the tiled and
small-filter weight kernels once per dtype and compile-time sizes by their factories;
float32 accumulates in float32 and float64 in float64.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any

import numpy as np
from numba import cuda

from gpunn.kernels.launch import scalar_type, unravel

WEIGHT_THREADS = 128  # most threads per block of the weight-gradient reductions (shared sizes)


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


@functools.cache
def weight_kernel(dtype: np.dtype, KH: int, KW: int, FT: int = 1) -> Any:
    """The weight-gradient kernel for KH×KW filters (KH·KW ≤ SMALL_FILTER), FT filters a
    block, and ``dtype``."""
    real = scalar_type(dtype)
    KK = KH * KW
    SUMS = FT * KK  # a constant: Numba sizes local arrays only from those

    @cuda.jit
    def conv_backward_weight_fc_kernel(gz, x, stride, pad, per_chunk, partial):
        """partial[b, f, c, k, l] = Σ_{n ∈ chunk b} Σ_{i,j} gz[n, f, i, j]·x[n, c, h, v],
        h = i·s + k − p, v = j·s + l − p; block (d·C + c, b) for the filters f = d·FT …
        d·FT + FT − 1, chunk b the examples b·per_chunk … (b + 1)·per_chunk − 1."""
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        F, C = gz.shape[1], x.shape[1]
        d = cuda.blockIdx.x // C  # the block's group of filters
        f0 = d * FT
        c = cuda.blockIdx.x - d * C
        chunk = cuda.blockIdx.y
        OH, OW = gz.shape[2], gz.shape[3]
        H, W = x.shape[2], x.shape[3]
        n0 = chunk * per_chunk
        n1 = min(gz.shape[0], n0 + per_chunk)
        area = OH * OW
        sums = cuda.local.array(SUMS, real)  # sums[t·KK + k·KW + l] for filter f0 + t
        for t in range(SUMS):
            sums[t] = real(0)
        g = cuda.local.array(FT, real)
        p = tid
        while p < (n1 - n0) * area:  # consecutive threads on consecutive j
            n = p // area
            q = p - n * area
            i = q // OW
            j = q - i * OW
            for t in range(FT):  # gz read once; each x read below serves FT filters
                g[t] = gz[n0 + n, f0 + t, i, j] if f0 + t < F else real(0)
            for k in range(KH):
                h = i * stride + k - pad
                if h >= 0 and h < H:
                    for l in range(KW):
                        v = j * stride + l - pad
                        if v >= 0 and v < W:
                            a = x[n0 + n, c, h, v]
                            for t in range(FT):
                                sums[t * KK + k * KW + l] += g[t] * a
            p += nt
        # (threads, KK) per filter: an odd KK (25) keeps both the writes (stride KK) and
        # the reads (consecutive t) free of shared-memory bank conflicts
        shared = cuda.shared.array((WEIGHT_THREADS, KK), real)
        for ft in range(FT):
            for t in range(KK):
                shared[tid, t] = sums[ft * KK + t]
            cuda.syncthreads()
            t = tid
            while t < KK:  # thread t adds weight t's sums, threads in order
                total = real(0)
                for r in range(nt):
                    total += shared[r, t]
                if f0 + ft < F:
                    partial[chunk, f0 + ft, c, t // KW, t - (t // KW) * KW] = total
                t += nt
            cuda.syncthreads()  # before the next filter's sums overwrite shared

    return conv_backward_weight_fc_kernel


@functools.cache
def tiled_kernel(
    dtype: np.dtype, C: int, KH: int, KW: int, PH: int, PW: int, TC: int, transposed: bool
) -> Any:
    """The stride-1 convolution kernel for these compile-time sizes (see the module's doc)."""
    real = scalar_type(dtype)
    KK = KH * KW
    CKK = C * KK

    @cuda.jit
    def conv_tiled_kernel(inp, w, out):
        """out[n, g, i, j] = Σ_c Σ_k Σ_l inp[n, c, i + k − PH, j + l − PW] · u[g, c, k, l],
        u = w (forward) or u[g, c, k, l] = w[c, g, KH−1−k, KW−1−l] (transposed); block
        (positions b, channels d): threads on positions b·blockDim + tid, channels d·TC + t."""
        u = cuda.shared.array((CKK, TC), real)
        g0 = cuda.blockIdx.y * TC
        G = out.shape[1]
        s = cuda.threadIdx.x
        while s < CKK * TC:  # u[(c, k, l), t] for the block's channels t, 0 past the last
            r = s // TC
            t = s - r * TC
            c = r // KK
            k = (r - c * KK) // KW
            l = r - c * KK - k * KW
            value = real(0)
            if g0 + t < G:
                if transposed:
                    value = w[c, g0 + t, KH - 1 - k, KW - 1 - l]
                else:
                    value = w[g0 + t, c, k, l]
            u[r, t] = value
            s += cuda.blockDim.x
        cuda.syncthreads()
        p = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
        OH, OW = out.shape[2], out.shape[3]
        H, W = inp.shape[2], inp.shape[3]
        if p < out.shape[0] * OH * OW:
            n = p // (OH * OW)
            i = (p - n * OH * OW) // OW
            j = p - n * OH * OW - i * OW
            acc = cuda.local.array(TC, real)
            for t in range(TC):
                acc[t] = real(0)
            for c in range(C):
                for k in range(KH):
                    h = i + k - PH
                    if PH == 0 or (h >= 0 and h < H):
                        for l in range(KW):
                            v = j + l - PW
                            if PW == 0 or (v >= 0 and v < W):
                                a = inp[n, c, h, v]
                                r = (c * KH + k) * KW + l
                                for t in range(TC):  # one broadcast read of each u
                                    acc[t] += a * u[r, t]
            for t in range(TC):
                if g0 + t < G:
                    out[n, g0 + t, i, j] = acc[t]

    return conv_tiled_kernel
