"""Growing the training set: the book's one-pixel shifts, and fresh random distortions.

Both take images as ``(N, C*H*W)`` (or ``(N, C, H, W)``) NumPy or CuPy arrays and
work with the arrays' own module, vectorised over all images at once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gpunn.backend import get_array_module
from gpunn.errors import ShapeError

IMAGE_SHAPE = (1, 28, 28)
_CHUNK = 8192  # images distorted at a time, to bound the temporaries' memory


def _as_images(x: Any, image_shape: tuple[int, int, int]) -> Any:
    """``x`` (N, ...) viewed as (N, C, H, W); ShapeError if the sizes disagree."""
    c, h, w = image_shape
    if x.ndim < 2 or int(np.prod(x.shape[1:])) != c * h * w:
        raise ShapeError(f"images of shape {x.shape} do not hold {c}x{h}x{w} images")
    return x.reshape(len(x), c, h, w)


def expand_shifts(
    x: Any, y: Any, image_shape: tuple[int, int, int] = IMAGE_SHAPE
) -> tuple[Any, Any]:
    """The book's expansion: x (N, D), y (N,) -> (5N, D), (5N,).

    Block after block: the originals, then each image shifted one pixel up, down,
    left and right, the vacated row or column filled with zeros.
    """
    xp = get_array_module(x, y)
    if len(y) != len(x):
        raise ShapeError(f"{len(x)} images but {len(y)} labels")
    images = _as_images(x, image_shape)  # (N, C, H, W)
    out = xp.zeros((5,) + images.shape, dtype=x.dtype)  # (5, N, C, H, W)
    out[0] = images
    out[1, ..., :-1, :] = images[..., 1:, :]  # up
    out[2, ..., 1:, :] = images[..., :-1, :]  # down
    out[3, ..., :-1] = images[..., 1:]  # left
    out[4, ..., 1:] = images[..., :-1]  # right
    return out.reshape((5 * len(x),) + x.shape[1:]), xp.tile(y, 5)


def _gaussian_smooth(field: Any, sigma: float, xp: Any) -> Any:
    """Blur (..., H, W) with a Gaussian of ``sigma`` pixels, by FFT (so with wrap-around)."""
    h, w = field.shape[-2:]
    fy = xp.fft.fftfreq(h)[:, None]
    fx = xp.fft.rfftfreq(w)[None, :]
    transfer = xp.exp(-2.0 * np.pi**2 * sigma**2 * (fy**2 + fx**2))
    return xp.fft.irfft2(xp.fft.rfft2(field) * transfer, s=(h, w))


def _bilinear(images: Any, rows: Any, cols: Any, xp: Any) -> Any:
    """Sample images (N, C, H, W) at (rows, cols) (N, H, W), zero outside the image."""
    n, c, h, w = images.shape
    r0 = xp.floor(rows)
    c0 = xp.floor(cols)
    fr = (rows - r0)[:, None]  # (N, 1, H, W)
    fc = (cols - c0)[:, None]
    r0 = r0.astype(np.int64)
    c0 = c0.astype(np.int64)
    # flat index of pixel (n, c, 0, 0)
    base = (xp.arange(n)[:, None, None, None] * c + xp.arange(c)[None, :, None, None]) * (h * w)
    flat = images.reshape(-1)
    out = xp.zeros(images.shape, dtype=images.dtype)
    for dr, dc, weight in (
        (0, 0, (1 - fr) * (1 - fc)),
        (0, 1, (1 - fr) * fc),
        (1, 0, fr * (1 - fc)),
        (1, 1, fr * fc),
    ):
        r = r0 + dr
        q = c0 + dc
        inside = ((r >= 0) & (r < h) & (q >= 0) & (q < w))[:, None]
        index = base + (xp.clip(r, 0, h - 1) * w + xp.clip(q, 0, w - 1))[:, None]
        out += xp.where(inside, flat[index], 0) * weight
    return out


def random_distort(
    x: Any,
    rng: np.random.Generator | int,
    *,
    image_shape: tuple[int, int, int] = IMAGE_SHAPE,
    max_shift: float = 2.0,
    max_rotation_degrees: float = 10.0,
    elastic_alpha: float = 34.0,
    elastic_sigma: float = 4.0,
) -> Any:
    """Freshly distorted copies of images x (N, D) -> (N, D), e.g. once per epoch.

    Each image is shifted by up to ``max_shift`` pixels along each axis, rotated
    by up to ``max_rotation_degrees`` about its centre and, when ``elastic_alpha``
    > 0, displaced by a random field of uniform noise smoothed with a Gaussian of
    ``elastic_sigma`` pixels and scaled by ``elastic_alpha`` (Simard et al. 2003),
    then resampled bilinearly with zeros outside. The random numbers come from
    the NumPy generator ``rng`` (or a seed), so a seed gives the same images on
    the CPU and the GPU. Values stay within [min(0, x.min()), max(0, x.max())].
    """
    xp = get_array_module(x)
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    images = _as_images(x, image_shape)  # (N, C, H, W)
    n, _, h, w = images.shape
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)
    angles = np.deg2rad(rng.uniform(-max_rotation_degrees, max_rotation_degrees, n))
    shifts = rng.uniform(-max_shift, max_shift, (n, 2))  # (N, [rows, cols])
    rows, cols = xp.meshgrid(xp.arange(h) - (h - 1) / 2, xp.arange(w) - (w - 1) / 2, indexing="ij")
    out = xp.empty(images.shape, dtype=dtype)
    for start in range(0, n, _CHUNK):
        part = slice(start, min(start + _CHUNK, n))
        cos = xp.asarray(np.cos(angles[part]))[:, None, None]
        sin = xp.asarray(np.sin(angles[part]))[:, None, None]
        shift = xp.asarray(shifts[part])[:, :, None, None]
        # output pixel p reads input pixel R(-angle) p - shift, about the centre
        src_r = cos * rows + sin * cols - shift[:, 0] + (h - 1) / 2
        src_c = -sin * rows + cos * cols - shift[:, 1] + (w - 1) / 2
        if elastic_alpha > 0:
            noise = xp.asarray(rng.uniform(-1.0, 1.0, (len(cos), 2, h, w)))
            field = elastic_alpha * _gaussian_smooth(noise, elastic_sigma, xp)
            src_r = src_r + field[:, 0]
            src_c = src_c + field[:, 1]
        out[part] = _bilinear(
            images[part].astype(dtype), src_r.astype(dtype), src_c.astype(dtype), xp
        )
    lo, hi = min(0.0, float(x.min())), max(0.0, float(x.max()))
    return xp.clip(out, lo, hi).reshape(x.shape)
