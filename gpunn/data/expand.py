"""Growing the training set: the book's one-pixel shifts, and fresh random distortions.

``expand_training_data`` and ``distort_epoch`` are what the trainer's ``expand`` option
("shifts" or "distort") calls.

Both take images as ``(N, C*H*W)`` (or ``(N, C, H, W)``) NumPy or CuPy arrays and
work with the arrays' own module, vectorised over all images at once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gpunn.backend import get_array_module
from gpunn.errors import ConfigError, ShapeError
from gpunn.values import is_real

IMAGE_SHAPE = (1, 28, 28)
SHIFT_VIEWS = 5  # an image and its one-pixel shifts up, down, left and right
_CHUNK = 8192  # images distorted at a time, to bound the temporaries' memory


def as_images(x: Any, image_shape: tuple[int, int, int]) -> Any:
    """``x`` (N, ...) viewed as (N, C, H, W); ShapeError if the sizes disagree."""
    c, h, w = image_shape
    if x.ndim < 2 or int(np.prod(x.shape[1:])) != c * h * w:
        raise ShapeError(f"images of shape {x.shape} do not hold {c}x{h}x{w} images")
    return x.reshape(len(x), c, h, w)


def shifted_images(x: Any, image_shape: tuple[int, int, int] = IMAGE_SHAPE) -> Any:
    """(SHIFT_VIEWS = 5, N, C, H, W): x's images (N, D), then each shifted one pixel up,
    down, left and right, the vacated row or column filled with zeros."""
    xp = get_array_module(x)
    images = as_images(x, image_shape)  # (N, C, H, W)
    out = xp.zeros((SHIFT_VIEWS,) + images.shape, dtype=x.dtype)
    out[0] = images
    out[1, ..., :-1, :] = images[..., 1:, :]  # up
    out[2, ..., 1:, :] = images[..., :-1, :]  # down
    out[3, ..., :-1] = images[..., 1:]  # left
    out[4, ..., 1:] = images[..., :-1]  # right
    return out


def expand_shifts(
    x: Any, y: Any, image_shape: tuple[int, int, int] = IMAGE_SHAPE
) -> tuple[Any, Any]:
    """The book's expansion: x (N, D), y (N,) -> (5N, D), (5N,), block after block: the
    originals, then the images shifted up, down, left and right (``shifted_images``)."""
    xp = get_array_module(x, y)
    if y.ndim != 1 or len(y) != len(x):
        raise ShapeError(f"{len(x)} images need labels of shape ({len(x)},), not {y.shape}")
    out = shifted_images(x, image_shape)
    return out.reshape((SHIFT_VIEWS * len(x),) + x.shape[1:]), xp.tile(y, SHIFT_VIEWS)


def _gaussian_matrix(size: int, sigma: float, xp: Any, dtype: Any) -> Any:
    """(size, size) matrix G: G @ v blurs v with a Gaussian of ``sigma``, zeros beyond its ends."""
    d = np.arange(size)[:, None] - np.arange(size)[None, :]
    k = np.arange(-size, size + 1)
    g = np.exp(-(d**2) / (2 * sigma**2)) / np.exp(-(k**2) / (2 * sigma**2)).sum()
    return xp.asarray(g, dtype=dtype)


def bilinear(images: Any, rows: Any, cols: Any, xp: Any) -> Any:
    """Sample images (N, C, H, W) at (rows, cols) (N, H, W), zero outside the image."""
    n, c, h, w = images.shape
    # a border of zeros (one before, two after) lets every corner be read unmasked
    ph, pw = h + 3, w + 3
    padded = xp.zeros((n, c, ph, pw), dtype=images.dtype)
    padded[:, :, 1 : h + 1, 1 : w + 1] = images
    rows = xp.clip(rows, -1, h)  # further out, all four corners are zeros anyway
    cols = xp.clip(cols, -1, w)
    r0 = xp.floor(rows)
    c0 = xp.floor(cols)
    fr = (rows - r0)[:, None]  # (N, 1, H, W)
    fc = (cols - c0)[:, None]
    corner = (r0.astype(np.int64) + 1) * pw + c0.astype(np.int64) + 1  # (N, H, W)
    index = xp.arange(n * c).reshape(n, c, 1, 1) * (ph * pw) + corner[:, None]  # (N, C, H, W)
    flat = padded.reshape(-1)
    top = flat[index] * (1 - fc) + flat[index + 1] * fc
    bottom = flat[index + pw] * (1 - fc) + flat[index + pw + 1] * fc
    return top * (1 - fr) + bottom * fr


def _warp(images, cos, sin, shift, field, xp):
    """images (n, C, H, W) rotated by the angles of cos, sin (n,) about their centres,
    shifted by shift (n, [rows, cols]) and displaced by field (n, 2, H, W) or None,
    read back bilinearly (vectorised, on either device)."""
    h, w = images.shape[2:]
    dtype = images.dtype
    centred = [xp.arange(size, dtype=dtype) - (size - 1) / 2 for size in (h, w)]
    rows, cols = xp.meshgrid(*centred, indexing="ij")  # (H, W), about the centre
    cos, sin = cos[:, None, None], sin[:, None, None]
    # output pixel p reads input pixel R(-angle) p - shift, about the centre
    src_r = cos * rows + sin * cols - shift[:, :1, None] + (h - 1) / 2
    src_c = -sin * rows + cos * cols - shift[:, 1:, None] + (w - 1) / 2
    if field is not None:
        src_r = src_r + field[:, 0]
        src_c = src_c + field[:, 1]
    return bilinear(images, src_r.astype(dtype), src_c.astype(dtype), xp)


def _warp_cpu(images, cos, sin, shift, field, out) -> None:
    """``_warp`` on NumPy arrays into ``out``, by a Numba loop over ranges of images
    at once (``gpunn.kernels.warp``): no image-sized temporaries."""
    from gpunn.kernels import threads
    from gpunn.kernels.warp import warp_bilinear

    n, _, h, w = images.shape
    if field is None:
        field = np.empty((0, 2, h, w), images.dtype)
    args = [np.ascontiguousarray(a) for a in (images, cos, sin, shift, field)]
    threads.over_examples(
        n, lambda lo, hi: warp_bilinear(*args, lo, hi, out), images.size, blas=False
    )


MAX_ELASTIC_ALPHA = 1000.0  # 30× Simard's 34 for 28×28 digits: nothing of a digit left
MAX_ELASTIC_SIGMA = 1000.0  # pixels: far past a flat field on any image here


def random_distort(
    x: Any,
    rng: np.random.Generator | int,
    *,
    image_shape: tuple[int, int, int] = IMAGE_SHAPE,
    max_shift: float = 2.0,
    max_rotation_degrees: float = 10.0,
    elastic_alpha: float = 34.0,
    elastic_sigma: float = 4.0,
    max_scale: float = 0.0,
) -> Any:
    """Freshly distorted copies of images x (N, D) -> (N, D), e.g. once per epoch.

    Each image is shifted by up to ``max_shift`` pixels along each axis, rotated
    by up to ``max_rotation_degrees`` and, when ``max_scale`` > 0, scaled by a factor in
    [1 − max_scale, 1 + max_scale] about its centre and, when ``elastic_alpha``
    > 0, displaced by a field of uniform noise in [-1, 1] blurred with a Gaussian
    of ``elastic_sigma`` pixels and scaled by ``elastic_alpha`` (Simard et al. 2003),
    then resampled bilinearly with zeros outside. The random numbers come from
    the NumPy generator ``rng`` (or a seed), so a seed gives the same images on
    the CPU and the GPU. Values stay within [min(0, x.min()), max(0, x.max())].
    """
    xp = get_array_module(x)
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    images = as_images(x, image_shape)  # (N, C, H, W)
    n, _, h, w = images.shape
    dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.dtype(np.float32)
    side = max(h, w)
    for name, v, high in (
        ("max_shift", max_shift, side),  # beyond: no image left
        ("max_rotation_degrees", max_rotation_degrees, 180),
        ("elastic_alpha", elastic_alpha, MAX_ELASTIC_ALPHA),
        ("elastic_sigma", elastic_sigma, MAX_ELASTIC_SIGMA),
    ):
        if not (is_real(v) and 0 <= v <= high):
            raise ConfigError(f"{name} must be a number from 0 to {high}, not {v!r}")
    if not (is_real(max_scale) and 0 <= max_scale < 1):
        raise ConfigError(f"max_scale must be in [0, 1), not {max_scale!r}")
    if n == 0:
        return xp.empty(x.shape, dtype=dtype)
    angles = np.deg2rad(rng.uniform(-max_rotation_degrees, max_rotation_degrees, n))
    shifts = rng.uniform(-max_shift, max_shift, (n, 2))  # (N, [rows, cols])
    # drawn only when asked for, so that the other draws stay as they were without it
    scales = rng.uniform(1 - max_scale, 1 + max_scale, n) if max_scale > 0 else np.ones(n)
    # output pixel p reads input pixel R(-angle) p / scale - shift: the rotation's matrix
    # divided by the scale is all the warp needs
    cos_all, sin_all = np.cos(angles) / scales, np.sin(angles) / scales
    if elastic_alpha > 0:
        if not elastic_sigma > 0:
            raise ConfigError(f"elastic_sigma must be positive, not {elastic_sigma}")
        blur_h = _gaussian_matrix(h, elastic_sigma, xp, dtype)
        blur_w = _gaussian_matrix(w, elastic_sigma, xp, dtype)
    out = xp.empty(images.shape, dtype=dtype)
    for start in range(0, n, _CHUNK):
        part = slice(start, min(start + _CHUNK, n))
        cos = xp.asarray(cos_all[part], dtype=dtype)
        sin = xp.asarray(sin_all[part], dtype=dtype)
        shift = xp.asarray(shifts[part], dtype=dtype)
        field = None
        if elastic_alpha > 0:
            # float32 halves the host's drawing and the copy to the device
            noise = xp.asarray(rng.random((len(cos), 2, h, w), np.float32) * 2 - 1, dtype=dtype)
            field = elastic_alpha * (blur_h @ noise @ blur_w.T)  # (n, 2, H, W)
        moved = images[part].astype(dtype, copy=False)
        if xp is np:
            _warp_cpu(moved, cos, sin, shift, field, out[part])
        else:
            out[part] = _warp(moved, cos, sin, shift, field, xp)
    lo, hi = min(0.0, float(x.min())), max(0.0, float(x.max()))
    return xp.clip(out, lo, hi).reshape(x.shape)


EXPANSIONS = ("shifts", "distort")


def image_shape(input_shape) -> tuple[int, int, int]:
    """(C, H, W) of a network's inputs; flat 784-vectors are MNIST's (1, 28, 28)."""
    return tuple(input_shape) if len(input_shape) == 3 else (1, 28, 28)


def expand_training_data(kind: str, x, y, input_shape):
    """The training set grown on its device: "shifts" is the book's 5× one-pixel shifts;
    "distort" keeps it as it is here (``distort_epoch`` redraws it each epoch)."""
    if kind not in EXPANSIONS:
        raise ConfigError(f"unknown expansion {kind!r}: choose one of {', '.join(EXPANSIONS)}")
    if kind == "distort":
        return x, y
    return expand_shifts(x, y, image_shape=image_shape(input_shape))


def distort_epoch(
    x,
    seed: int,
    epoch: int,
    input_shape,
    strength: float = 1.0,
    scale: float = 0.0,
    elastic_alpha: float | None = None,
):
    """Epoch ``epoch``'s training images: fresh random shifts, rotations, scalings and
    elastic distortions of x (``random_distort``), seeded by (seed, epoch). ``strength``
    scales the shifts, rotations and (unless ``elastic_alpha`` is given) the elastic α:
    1 is shifts ≤ 2 px, rotations ≤ 10°, α 34 (σ 4 either way); ``scale`` F draws each
    image's size factor from [1 − F, 1 + F] (0: none)."""
    rng = np.random.default_rng([seed, epoch, 1])
    return random_distort(
        x,
        rng,
        image_shape=image_shape(input_shape),
        max_shift=SHIFT_PER_STRENGTH * strength,
        max_rotation_degrees=10.0 * strength,
        elastic_alpha=34.0 * strength if elastic_alpha is None else elastic_alpha,
        max_scale=scale,
    )


SHIFT_PER_STRENGTH = 2.0  # pixels of shift per unit of distort_epoch's strength


def check_distort_strength(strength: float, input_shape) -> None:
    """ConfigError when ``distort_epoch``'s shifts at ``strength`` would pass the side of
    images of ``input_shape`` (where ``random_distort`` refuses them), naming the strength."""
    side = max(image_shape(input_shape)[1:])
    if SHIFT_PER_STRENGTH * strength > side:
        most = side / SHIFT_PER_STRENGTH
        raise ConfigError(
            f"distort_strength {strength:g} shifts images by up to "
            f"{SHIFT_PER_STRENGTH * strength:g} pixels, past their side of {side}: "
            f"give at most {most:g} for inputs of shape {tuple(input_shape)}"
        )
