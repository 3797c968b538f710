"""Dropout masks from a counter-based hash: the same mask on CPU and GPU, no RNG state.

The book's network3 drops each input of a layer with probability p while training
and, instead of rescaling at training time, multiplies the weights by (1 − p) at
evaluation ("non-inverted" dropout); the layers do that scaling.

Each mask element i is kept when  fmix32(i·φ ⊕ key) >> 8  ≥  p·2²⁴, where fmix32 is
MurmurHash3's finaliser and key mixes (seed, step, layer). A mask is a pure function
of those numbers, so training is reproducible, a resumed run draws the very masks an
uninterrupted one would, and the GPU path needs no cuRAND call (which CUDA graph
capture refuses). Inside a CUDA graph the step comes from device memory (``StepKey``)
and ``gpunn.kernels.dropout`` mixes the key on the device, to the same bits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from gpunn.backend import elementwise_kernel, get_array_module

_MASK32 = 0xFFFFFFFF
_PHI = 0x9E3779B1


def _fmix32(h: int) -> int:
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MASK32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK32
    return h ^ (h >> 16)


STEP_MIX = 0x85EBCA77


def seed_key(seed: int) -> int:
    """The first third of ``mask_key``: the seed's 32-bit mix."""
    return _fmix32((seed * _PHI + 0x632BE5AB) & _MASK32)


def layer_term(layer: int) -> int:
    """What ``mask_key`` mixes in for ``layer``, last."""
    return (layer * 0xC2B2AE3D + 0x27D4EB2F) & _MASK32


def mask_key(seed: int, step: int, layer: int) -> int:
    """A 32-bit key for the mask of ``layer`` at training ``step`` of a run seeded ``seed``."""
    k = _fmix32((seed_key(seed) ^ (step * STEP_MIX)) & _MASK32)
    return _fmix32(k ^ layer_term(layer))


@dataclass(frozen=True)
class StepKey:
    """The key (seed, step, layer) of a mask whose step lives in device memory: ``step``
    is a 1-element int64 array, read by the kernel when it runs (a replayed CUDA graph
    draws a new mask each step). The same bits as ``mask_key(seed, step[0], layer)``."""

    seed: int
    step: Any
    layer: int


def step_key(seed: int, step: int | Any, layer: int) -> int | StepKey:
    """``mask_key(seed, step, layer)``, or a ``StepKey`` when ``step`` is an array."""
    if isinstance(step, (int, np.integer)):
        return mask_key(seed, int(step), layer)
    return StepKey(seed, step, layer)


def _threshold(p: float) -> int:
    return int(round(p * (1 << 24)))


@numba.njit(cache=False, nogil=True)
def _mask_cpu(out, key, threshold, start):  # pragma: no cover - compiled
    flat = out.reshape(-1)
    for i in range(flat.size):
        j = np.uint64(i) + np.uint64(start)
        h = np.uint32((j * np.uint64(_PHI)) & np.uint64(_MASK32)) ^ np.uint32(key)
        h ^= h >> np.uint32(16)
        h = np.uint32((np.uint64(h) * np.uint64(0x85EBCA6B)) & np.uint64(_MASK32))
        h ^= h >> np.uint32(13)
        h = np.uint32((np.uint64(h) * np.uint64(0xC2B2AE35)) & np.uint64(_MASK32))
        h ^= h >> np.uint32(16)
        flat[i] = 1.0 if (h >> np.uint32(8)) >= threshold else 0.0


_GPU_SOURCE = """
unsigned int h = (unsigned int)i * 0x9E3779B1u ^ key;
h ^= h >> 16; h *= 0x85EBCA6Bu; h ^= h >> 13; h *= 0xC2B2AE35u; h ^= h >> 16;
mask = (h >> 8) >= threshold ? (T)1 : (T)0;
"""


def dropout_mask(xp, shape, dtype, p: float, key, start: int = 0):
    """A {0, 1} array of ``shape``: each element 0 with probability ``p``; ``key`` is a
    ``mask_key`` or a ``StepKey``. ``start`` (NumPy only): the flat index of the first
    element, so that rows r.. of a batch get the very mask that the whole batch's rows r..
    would (``gpunn.replicas`` draws each part's rows so)."""
    out = xp.empty(shape, dtype=dtype)
    threshold = _threshold(p)
    if start and xp is not np:
        raise ValueError("dropout_mask: start is for NumPy arrays only")
    if isinstance(key, StepKey) and xp is not np:
        from gpunn.kernels.dropout import dropout_mask_on_device

        dropout_mask_on_device(out, key, threshold)
        return out
    if isinstance(key, StepKey):
        key = mask_key(key.seed, int(key.step[0]), key.layer)
    if xp is np:
        _mask_cpu(out, np.uint32(key), np.uint32(threshold), np.uint64(start))
    else:
        kernel = elementwise_kernel(
            "uint32 key, uint32 threshold", "T mask", _GPU_SOURCE, "gpunn_dropout_mask"
        )
        kernel(np.uint32(key), np.uint32(threshold), out)
    return out


def dropout_forward(x, p: float, key, first_row: int = 0):
    """(x ⊙ mask, mask) with each element of x dropped with probability p; x holds the rows
    ``first_row``.. of the mini-batch whose mask it draws."""
    xp = get_array_module(x)
    start = first_row * (x.size // x.shape[0]) if first_row else 0
    mask = dropout_mask(xp, x.shape, x.dtype, p, key, start)
    return x * mask, mask
