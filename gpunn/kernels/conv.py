"""Numba CUDA kernels for convolution (see ``gpunn.functions.conv`` for the maths) and launchers.

The launchers run one of three methods (``conv_method``, ``GPUNN_CONV_METHOD``): 'gemm',
the default, hands everything to ``gpunn.kernels.conv_gemm`` (im2col / col2im kernels
around cuBLAS); 'tiled' and 'direct' use the kernels of this file:

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
  SMALL_FILTER weights (the book's 5×5): one block per (FT filters, c) and per chunk of
  the batch; each thread walks its share of the (n, i, j) positions, reads the FT
  values gz[n, f, i, j] once and adds each times the KH·KW inputs under the window
  (each read once, for all FT filters) to FT·KH·KW sums it keeps in registers; the
  block then adds its threads' sums in a fixed order (deterministic, no atomics), and
  the chunks' results are summed by one CuPy reduction when there are several. Chunks
  (``weight_chunks``) give the GPU enough blocks when F·C is small (conv1: 20).
- ``conv_backward_weight_kernel``, for larger filters: one block per gw[f, c, k, l];
  its threads stride over the N·OH·OW terms (three integer divisions and one
  multiply-add each), then add their partial sums in shared memory (a tree, fixed
  order: deterministic).

The direct kernels are built once per dtype by ``kernels(dtype)``, the tiled and
small-filter weight kernels once per dtype and compile-time sizes by their factories;
float32 accumulates in float32 and float64 in float64. The launchers allocate outputs
with the input's own array module (CuPy, or NumPy in the simulator). A fused conv +
max-pool + bias + activation kernel for small batches would sit beside these and use
the same launcher.
"""

from __future__ import annotations

import functools
import os
from types import SimpleNamespace
from typing import Any

import numpy as np
from numba import cuda

from gpunn.backend import get_array_module
from gpunn.errors import ConfigError
from gpunn.kernels import conv_gemm
from gpunn.kernels.launch import SIMULATOR, launch, launch_blocks, scalar_type, unravel

WEIGHT_THREADS = 128  # most threads per block of the weight-gradient reduction
SMALL_FILTER = 32  # most KH·KW for which each thread keeps all of a filter's sums
WEIGHT_FILTERS = 4  # most filters a block of the small-filter weight gradient takes
REGISTER_SUMS = 100  # most sums (filters × KH·KW) a thread of it keeps in registers
TARGET_BLOCKS = 512  # the blocks weight_chunks and tile_channels aim at (the H100 has 132 SMs)
TILE_THREADS = 32 if SIMULATOR else 128  # threads per block of the tiled kernels
TILE_CHANNELS = (16, 8, 4, 2, 1)  # output channels per thread that tile_channels picks from
SHARED_BYTES = 48 * 1024  # the most static shared memory a block may declare


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


def tile_channels(channels: int, positions: int, c_in: int, kk: int, itemsize: int) -> int:
    """Output channels per thread for ``tiled_kernel`` (0: none fits shared memory): of
    TILE_CHANNELS, the most that still gives ≥ TARGET_BLOCKS blocks, preferring those whose
    empty slots past the last channel are ≤ a quarter of the channels; the fewest when
    none fills the GPU. (Kept per shape: it is asked at every launch.)"""
    settings = (TILE_CHANNELS, SHARED_BYTES, TILE_THREADS, TARGET_BLOCKS)
    return _tile_channels(channels, positions, c_in, kk, itemsize, *settings)


@functools.lru_cache(maxsize=256)
def _tile_channels(channels, positions, c_in, kk, itemsize, choices, shared, threads, target):
    fits = [tc for tc in choices if tc * c_in * kk * itemsize <= shared]
    if not fits:
        return 0
    blocks = -(-positions // threads)
    full = [tc for tc in fits if blocks * -(-channels // tc) >= target]
    thrifty = [tc for tc in full if -(-channels // tc) * tc * 4 <= channels * 5]
    return max(thrifty or full or [min(fits)])


def _tiled(inp: Any, w: Any, out: Any, ph: int, pw: int, transposed: bool) -> bool:
    """Run the stride-1 ``tiled_kernel`` into ``out``; False (nothing run) when its
    filters do not fit in shared memory."""
    N, G, OH, OW = out.shape
    C = inp.shape[1]
    KH, KW = w.shape[2:]
    dtype = np.dtype(inp.dtype)
    tc = tile_channels(G, N * OH * OW, C, KH * KW, dtype.itemsize)
    if tc == 0:
        return False
    kernel = tiled_kernel(dtype, C, KH, KW, ph, pw, tc, transposed)
    blocks = (-(-(N * OH * OW) // TILE_THREADS), -(-G // tc))
    launch_blocks(kernel, blocks, TILE_THREADS, inp, w, out)
    return True


def weight_filters(n: int, F: int, C: int, kk: int, positions: int, threads: int) -> int:
    """Filters a block of the small-filter weight gradient takes: the most (up to
    WEIGHT_FILTERS, REGISTER_SUMS sums a thread) that still gives ≥ TARGET_BLOCKS / 2
    blocks after chunking, else 1 (more blocks matter more than fewer reads then)."""
    most = min(WEIGHT_FILTERS, F, max(1, REGISTER_SUMS // kk))
    for ft in range(most, 1, -1):
        groups = -(-F // ft) * C
        if groups * weight_chunks(n, groups, positions, threads) * 2 >= TARGET_BLOCKS:
            return ft
    return 1


def weight_chunks(n: int, filter_pairs: int, positions: int, threads: int) -> int:
    """How many chunks of the batch the weight gradient splits over: enough for about
    TARGET_BLOCKS blocks, but each block keeps ≥ 4 positions per thread, and ≤ n chunks."""
    want = -(-TARGET_BLOCKS // filter_pairs)
    return max(1, min(want, n, n * positions // (4 * threads)))


METHODS = ("gemm", "tiled", "direct")
METHOD_ENV = "GPUNN_CONV_METHOD"


def conv_method() -> str:
    """How the launchers below convolve: ``GPUNN_CONV_METHOD`` if set, else 'gemm'.

    'gemm': im2col / col2im kernels around cuBLAS (``gpunn.kernels.conv_gemm``); 'tiled':
    the tiled kernel for stride 1, else the direct ones; 'direct': the direct kernels.
    The weight gradient of 'tiled' and 'direct' is ``weight_kernel``'s.
    """
    method = os.environ.get(METHOD_ENV, "gemm").strip().lower() or "gemm"
    if method not in METHODS:
        raise ConfigError(f"{METHOD_ENV}={method!r}: choose one of {', '.join(METHODS)}")
    return method


def conv_forward(x: Any, w: Any, stride: int = 1, pad: int = 0) -> Any:
    """z (N, F, OH, OW) = x ⋆ w on the device (shapes already checked by the caller)."""
    method = conv_method()
    if method == "gemm":
        return conv_gemm.conv_forward(x, w, stride, pad)
    xp = get_array_module(x)
    N, _, H, W = x.shape
    F, _, KH, KW = w.shape
    z = xp.empty(
        (N, F, (H + 2 * pad - KH) // stride + 1, (W + 2 * pad - KW) // stride + 1), x.dtype
    )
    if method == "direct" or stride != 1 or not _tiled(x, w, z, pad, pad, transposed=False):
        launch(kernels(x.dtype).conv_forward_kernel, z.size, x, w, stride, pad, z)
    return z


def conv_backward_input(gz: Any, w: Any, x_shape: tuple, stride: int = 1, pad: int = 0) -> Any:
    """gx = ∂C/∂x (x_shape) from gz on the device: one launch ('tiled', 'direct'), or a
    product and col2im ('gemm')."""
    method = conv_method()
    if method == "gemm":
        return conv_gemm.conv_backward_input(gz, w, x_shape, stride, pad)
    gx = get_array_module(gz).empty(x_shape, gz.dtype)
    KH, KW = w.shape[2:]
    direct = method == "direct" or stride != 1
    if direct or not _tiled(gz, w, gx, KH - 1 - pad, KW - 1 - pad, transposed=True):
        launch(kernels(gz.dtype).conv_backward_input_kernel, gx.size, gz, w, stride, pad, gx)
    return gx


def conv_backward(
    gz: Any,
    x: Any,
    w: Any,
    stride: int = 1,
    pad: int = 0,
    need_gx: bool = True,
    weight_threads: int | None = None,
) -> tuple[Any | None, Any]:
    """(gx or None, gw) on the device. 'gemm': ``conv_gemm.conv_backward``. 'tiled' and
    'direct': one launch for gx (unless ``need_gx`` is False), one for gw, and one CuPy
    sum when the gw kernel splits the batch into chunks.

    ``weight_threads`` (those two methods only): threads per block of the gw reduction, a
    power of 2 up to WEIGHT_THREADS (the default; 8 in the simulator, where each thread
    costs ~1 ms).
    """
    if weight_threads is None:
        weight_threads = 8 if SIMULATOR else WEIGHT_THREADS
    if weight_threads & (weight_threads - 1) or not 0 < weight_threads <= WEIGHT_THREADS:
        raise ValueError(f"weight_threads must be a power of 2 up to {WEIGHT_THREADS}")
    if conv_method() == "gemm":
        return conv_gemm.conv_backward(gz, x, w, stride, pad, need_gx)
    xp = get_array_module(x)
    gx = conv_backward_input(gz, w, x.shape, stride, pad) if need_gx else None
    F, C, KH, KW = w.shape
    if KH * KW > SMALL_FILTER:
        gw = xp.empty(w.shape, w.dtype)
        kernel = kernels(x.dtype).conv_backward_weight_kernel
        launch_blocks(kernel, gw.size, weight_threads, gz, x, stride, pad, gw)
        return gx, gw
    n = x.shape[0]
    if n == 0:
        return gx, xp.zeros(w.shape, w.dtype)
    positions = gz.shape[2] * gz.shape[3]
    ft = weight_filters(n, F, C, KH * KW, positions, weight_threads)
    groups = -(-F // ft) * C
    chunks = weight_chunks(n, groups, positions, weight_threads)
    per_chunk = -(-n // chunks)
    chunks = -(-n // per_chunk)  # none empty
    partial = xp.empty((chunks, *w.shape), w.dtype)
    kernel = weight_kernel(np.dtype(x.dtype), KH, KW, ft)
    launch_blocks(kernel, (groups, chunks), weight_threads, gz, x, stride, pad, per_chunk, partial)
    return gx, partial[0] if chunks == 1 else partial.sum(axis=0)
