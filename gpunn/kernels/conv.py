"""Launchers of the convolution on the device, and the sizes they choose.

The launchers run one of three methods (``conv_method``, ``GPUNN_CONV_METHOD``): 'gemm',
the default, hands everything to ``gpunn.kernels.conv_gemm`` (im2col / col2im kernels
around cuBLAS); 'tiled' and 'direct' launch the kernels of ``gpunn.kernels.conv_cuda``:
the tiled kernel for stride 1 where the block's filters fit in shared memory
(``tile_channels``), the direct kernels otherwise, and for the weight gradient the
small-filter kernel (``weight_filters`` filters a block over ``weight_chunks`` chunks of
the batch) or, for filters of more than SMALL_FILTER weights, the per-weight one.

Outputs are allocated with the input's own array module (CuPy, or NumPy in the
simulator). A fused conv + max-pool + bias + activation kernel for small batches would
sit beside these and use the same launcher.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import numpy as np

from gpunn.backend import get_array_module
from gpunn.errors import ConfigError
from gpunn.kernels import conv_gemm
from gpunn.kernels.conv_cuda import WEIGHT_THREADS, kernels, tiled_kernel, weight_kernel
from gpunn.kernels.launch import SIMULATOR, launch, launch_blocks

SMALL_FILTER = 32  # most KH·KW for which each thread keeps all of a filter's sums
WEIGHT_FILTERS = 4  # most filters a block of the small-filter weight gradient takes
REGISTER_SUMS = 100  # most sums (filters × KH·KW) a thread of it keeps in registers
TARGET_BLOCKS = 512  # the blocks weight_chunks and tile_channels aim at (the H100 has 132 SMs)
TILE_THREADS = 32 if SIMULATOR else 128  # threads per block of the tiled kernels
TILE_CHANNELS = (16, 8, 4, 2, 1)  # output channels per thread that tile_channels picks from
SHARED_BYTES = 48 * 1024  # the most static shared memory a block may declare


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
