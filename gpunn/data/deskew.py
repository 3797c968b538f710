"""Deskewing: each digit sheared so that its slant is gone, about its own centre of mass.

With the image's intensities as weights, the centre of mass is (ȳ, x̄) and the slant is
the slope of the regression of column on row,

    α = μ_yx / μ_yy,   μ_yy = Σ (i − ȳ)² I / Σ I,   μ_yx = Σ (i − ȳ)(j − x̄) I / Σ I.

The deskewed image reads the input at the same row and the column moved along the slant,

    out[i, j] = I[i, j + α (i − ȳ)]   (bilinear, zero outside),

so the row of the centre of mass stays where it was and the image is not re-centred: a
shift before deskewing is the same shift after it (up to the pixels a border cuts off),
which keeps the book's one-pixel shifts meaningful on deskewed digits. Deskewing is one
of the input normalisations of LeCun et al.'s MNIST comparisons; Ciresan et al. (2012)
trained the columns of their committees on differently normalised digits so that they
would make different errors, which is why gpunn offers it (``--deskew``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gpunn.backend import get_array_module
from gpunn.data.expand import as_images, bilinear, image_shape

MAX_SLANT = 1.0  # |α| at most 1 (45°): a blot or a stroke along a row gives no real slant
_CHUNK = 8192  # images at a time, to bound the temporaries' memory


def slants(images: Any) -> tuple[Any, Any]:
    """(α, ȳ) per image of images (N, C, H, W), channels summed as one intensity:
    the slope of column on row, clipped to ±MAX_SLANT (0 for a blank image, a single
    row, or an image holding NaN or infinity), and the row of the centre of mass
    ((H − 1)/2 where there is none)."""
    xp = get_array_module(images)
    n, _, h, w = images.shape
    weight = images.sum(axis=1, dtype=np.float64)  # (N, H, W)
    rows = xp.arange(h, dtype=np.float64)
    cols = xp.arange(w, dtype=np.float64)
    mass = weight.sum(axis=(1, 2))
    blank = ~(mass > 0)  # also NaN or infinite ink: the image goes through as it is
    mass = xp.where(blank, 1.0, mass)
    by_row = weight.sum(axis=2)  # (N, H)
    y_bar = by_row @ rows / mass
    x_bar = weight.sum(axis=1) @ cols / mass
    mu_yy = by_row @ (rows * rows) / mass - y_bar * y_bar
    mu_yx = (weight @ cols) @ rows / mass - y_bar * x_bar  # Σ_i i Σ_j j I_ij / Σ I
    flat = ~(mu_yy > 1e-6)  # all the ink in one row (or no finite moment)
    alpha = xp.where(blank | flat, 0.0, mu_yx / xp.where(flat, 1.0, mu_yy))
    y_bar = xp.where(blank, (h - 1) / 2, y_bar)
    return xp.clip(alpha, -MAX_SLANT, MAX_SLANT), y_bar


def deskew(x: Any, input_shape: tuple[int, ...] = (784,)) -> Any:
    """x (N, …) of images of ``input_shape`` ((C, H, W), or flat MNIST digits), each
    deskewed as the module docstring says; the same shape, on x's device, in x's float
    dtype (float32 for integer images). Each output pixel mixes up to four input pixels
    and zeros with weights summing to at most 1: within [min(0, x.min()), max(0, x.max())]
    up to rounding."""
    xp = get_array_module(x)
    c, h, w = image_shape(input_shape)
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)
    images = as_images(x, (c, h, w)).astype(dtype, copy=False)  # ShapeError if not
    out = xp.empty(images.shape, dtype=dtype)
    i = xp.arange(h, dtype=np.float64)[None, :, None]  # (1, H, 1)
    j = xp.arange(w, dtype=np.float64)[None, None, :]  # (1, 1, W)
    for start in range(0, len(x), _CHUNK):
        part = images[start : start + _CHUNK]
        alpha, y_bar = slants(part)
        rows = xp.broadcast_to(i, (len(part), h, w))
        cols = j + alpha[:, None, None] * (i - y_bar[:, None, None])  # (n, H, W)
        out[start : start + _CHUNK] = bilinear(part, rows.astype(dtype), cols.astype(dtype), xp)
    return out.reshape(x.shape)
