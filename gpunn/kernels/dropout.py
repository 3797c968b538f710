"""The dropout mask kernel that reads the training step from device memory (GPU only).

A CUDA graph replays each kernel with the arguments it was captured with, so a mask
keyed by a host integer would be the same every step. ``dropout_mask_kernel`` reads
the step from a 1-element int64 array and mixes the key on the device the way
``gpunn.functions.dropout.mask_key`` does on the host (the seed's and the layer's parts
come in precomputed), then draws element i as the host loop does: kept when
fmix32(i·φ ⊕ key) >> 8 ≥ threshold. Arithmetic is in uint64 masked to 32 bits, which
is exact and never overflows (every product is of two numbers < 2³²). Tested against the
host masks under Numba's simulator; not yet run on a GPU.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import cuda

from gpunn.functions.dropout import _PHI, STEP_MIX, layer_term, seed_key
from gpunn.kernels.launch import launch

_M32 = np.uint64(0xFFFFFFFF)
_U16, _U13, _U8 = np.uint64(16), np.uint64(13), np.uint64(8)
_C1, _C2 = np.uint64(0x85EBCA6B), np.uint64(0xC2B2AE35)
_U_PHI, _U_STEP = np.uint64(_PHI), np.uint64(STEP_MIX)


@cuda.jit(device=True)
def fmix32(h):
    """MurmurHash3's 32-bit finaliser of h (a uint64 below 2³²)."""
    h ^= h >> _U16
    h = (h * _C1) & _M32
    h ^= h >> _U13
    h = (h * _C2) & _M32
    return h ^ (h >> _U16)


@cuda.jit
def dropout_mask_kernel(step, seed_part, layer_part, threshold, mask):
    """mask[i] = 1 when element i survives at training step ``step[0]``, else 0 (1-D mask)."""
    i = cuda.grid(1)
    if i >= mask.size:
        return
    s = np.uint64(step[0]) & _M32
    k = fmix32(np.uint64(seed_part) ^ ((s * _U_STEP) & _M32))
    key = fmix32(k ^ np.uint64(layer_part))
    h = fmix32(((np.uint64(i) * _U_PHI) & _M32) ^ key)
    mask[i] = 1 if (h >> _U8) >= np.uint64(threshold) else 0


def dropout_mask_on_device(out: Any, key: Any, threshold: int) -> None:
    """Fill the C-contiguous ``out`` with the mask of ``key`` (a ``StepKey``), one launch."""
    flat = out.reshape(-1)
    launch(
        dropout_mask_kernel, flat.size, key.step, seed_key(key.seed), layer_term(key.layer),
        threshold, flat,
    )  # fmt: skip
