"""gpunn.data.expand: the book's shifted copies and random distortions, on each device."""

import numpy as np
import pytest

from gpunn.backend import to_numpy
from gpunn.data import expand, expand_shifts, random_distort
from gpunn.data.expand import _warp, _warp_cpu, bilinear, distort_epoch
from gpunn.errors import ConfigError, ShapeError


def test_expand_shifts_on_a_tiny_image(device):
    xp = device.xp
    image = np.arange(1, 10, dtype=np.float32).reshape(3, 3)  # 1 2 3 / 4 5 6 / 7 8 9
    x = xp.asarray(np.stack([image, 10 * image]).reshape(2, 9))
    y = xp.asarray([3, 7])
    big_x, big_y = expand_shifts(x, y, image_shape=(1, 3, 3))
    assert big_x.shape == (10, 9) and big_y.shape == (10,)
    assert type(big_x) is type(x)
    got = to_numpy(big_x).reshape(5, 2, 3, 3)[:, 0]
    expected = [
        image,
        [[4, 5, 6], [7, 8, 9], [0, 0, 0]],  # up
        [[0, 0, 0], [1, 2, 3], [4, 5, 6]],  # down
        [[2, 3, 0], [5, 6, 0], [8, 9, 0]],  # left
        [[0, 1, 2], [0, 4, 5], [0, 7, 8]],  # right
    ]
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(to_numpy(big_x).reshape(5, 2, 9)[:, 1], 10 * got.reshape(5, 9))
    np.testing.assert_array_equal(to_numpy(big_y), [3, 7] * 5)


def test_expand_shifts_keeps_layout_and_checks_shapes():
    x = np.ones((4, 1, 28, 28), np.float32)
    big_x, big_y = expand_shifts(x, np.zeros(4, np.int64))
    assert big_x.shape == (20, 1, 28, 28) and big_y.dtype == np.int64
    with pytest.raises(ShapeError):
        expand_shifts(np.ones((4, 700), np.float32), np.zeros(4))
    with pytest.raises(ShapeError):
        expand_shifts(np.ones((4, 784), np.float32), np.zeros(3))


@pytest.fixture
def images(rng):
    """Eight blurry blobs (8, 784) in [0, 1]."""
    r, c = np.mgrid[0:28, 0:28]
    centres = rng.uniform(8, 20, (8, 2))
    d2 = (r - centres[:, :1, None]) ** 2 + (c - centres[:, 1:, None]) ** 2
    return np.exp(-d2 / 20).reshape(8, 784).astype(np.float32)


def test_random_distort_keeps_shape_and_range_and_is_seeded(device, images):
    x = device.xp.asarray(images)
    a = random_distort(x, np.random.default_rng(5))
    assert a.shape == x.shape and a.dtype == np.float32 and type(a) is type(x)
    a = to_numpy(a)
    assert a.min() >= 0.0 and a.max() <= 1.0
    assert not np.allclose(a, images, atol=1e-2)  # it did move
    np.testing.assert_array_equal(a, to_numpy(random_distort(x, np.random.default_rng(5))))
    assert not np.array_equal(a, to_numpy(random_distort(x, 6)))
    cpu = random_distort(images, np.random.default_rng(5))  # the same seed on either device
    np.testing.assert_allclose(a, cpu, atol=1e-4)


def test_random_distort_without_distortion_is_the_identity(device, images):
    x = device.xp.asarray(images)
    out = random_distort(x, 0, max_shift=0, max_rotation_degrees=0, elastic_alpha=0)
    np.testing.assert_allclose(to_numpy(out), images, atol=1e-6)


def test_bilinear_sampling(device, images):
    """Integer offsets move pixels exactly, half offsets average, a quarter turn is rot90."""
    xp = device.xp
    square = images.reshape(8, 1, 28, 28)
    x = xp.asarray(square)
    r, c = (xp.asarray(a, dtype=xp.float32) for a in np.mgrid[0:28, 0:28])
    ones = xp.ones((8, 1, 1), dtype=xp.float32)

    def sample(rows, cols):
        return to_numpy(bilinear(x, rows * ones, cols * ones, xp))

    down = to_numpy(expand_shifts(x, xp.zeros(8), image_shape=(1, 28, 28))[0][16:24])
    np.testing.assert_array_equal(sample(r - 1, c), down)
    half = sample(r, c + 0.5)[..., :-1]
    np.testing.assert_allclose(half, (square[..., :-1] + square[..., 1:]) / 2, atol=1e-6)
    turned = sample(c, 27 - r)
    np.testing.assert_allclose(turned, np.rot90(square, axes=(2, 3)), atol=1e-6)


@pytest.mark.parametrize("elastic", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_cpu_warp_loop_matches_the_vectorised_warp(rng, elastic, dtype):
    """Odd sizes, two channels, turns up to 180° and shifts that carry pixels off the image."""
    n, c, h, w = 600, 2, 9, 6  # 600 images: split over the cores
    images = rng.uniform(-1, 1, (n, c, h, w)).astype(dtype)
    angles = rng.uniform(-np.pi, np.pi, n)
    cos, sin = np.cos(angles).astype(dtype), np.sin(angles).astype(dtype)
    shift = rng.uniform(-4, 4, (n, 2)).astype(dtype)
    field = rng.uniform(-3, 3, (n, 2, h, w)).astype(dtype) if elastic else None
    expected = _warp(images, cos, sin, shift, field, np)
    got = np.full_like(images, np.nan)
    _warp_cpu(images, cos, sin, shift, field, got)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert np.abs(expected).max() > 0.5 and (expected == 0).any()  # moved, some off the edge


def test_random_distort_fills_every_chunk_the_same_way(monkeypatch, images):
    """Chunks after the first land in their own rows: the CPU loop against the vectorised warp."""
    x = np.tile(images, (75, 1))  # 600 images
    monkeypatch.setattr(expand, "_CHUNK", 256)  # three chunks, the last one short
    looped = random_distort(x, 7)

    def vectorised(images, cos, sin, shift, field, out):
        out[...] = _warp(images, cos, sin, shift, field, np)

    monkeypatch.setattr(expand, "_warp_cpu", vectorised)
    np.testing.assert_allclose(looped, random_distort(x, 7), atol=1e-6)


def test_distort_strength_scales_shifts_rotations_and_elastic_alpha(images):
    x = images[:20]
    half = distort_epoch(x, 5, 2, (1, 28, 28), strength=0.5)
    drawn = random_distort(
        x, np.random.default_rng([5, 2, 1]), max_shift=1, max_rotation_degrees=5, elastic_alpha=17
    )
    np.testing.assert_array_equal(half, drawn)
    change = [
        np.abs(distort_epoch(x, 5, 2, (784,), strength=s) - x).mean() for s in (1e-9, 0.25, 1)
    ]
    assert change[0] < 1e-6 < change[1] < change[2]


def test_distort_scale_enlarges_or_shrinks_each_image_about_its_centre():
    """A centred Gaussian blob of variance v comes out with variance s²·v for the drawn s."""
    r, c = np.mgrid[0:28, 0:28] - 13.5
    blob = np.exp(-(r**2 + c**2) / (2 * 9.0)).astype(np.float64)
    x = np.tile(blob.reshape(1, 784), (6, 1))
    out = random_distort(
        x, 3, max_shift=0, max_rotation_degrees=0, elastic_alpha=0, max_scale=0.3
    ).reshape(6, 28, 28)
    rng = np.random.default_rng(3)  # the draws random_distort makes, in its order
    rng.uniform(0, 0, 6), rng.uniform(0, 0, (6, 2))
    s = rng.uniform(0.7, 1.3, 6)
    assert s.min() < 0.9 and s.max() > 1.1  # both ways
    variance = (out * r**2).sum(axis=(1, 2)) / out.sum(axis=(1, 2))
    np.testing.assert_allclose(variance, 9.0 * s**2, rtol=0.05)
    with pytest.raises(ConfigError, match="max_scale"):
        random_distort(x, 3, max_scale=1.0)


def test_distort_epoch_passes_scale_and_elastic_alpha_on(images):
    x = images[:20]
    got = distort_epoch(x, 5, 2, (1, 28, 28), strength=0.5, scale=0.1, elastic_alpha=0)
    drawn = random_distort(
        x,
        np.random.default_rng([5, 2, 1]),
        max_shift=1,
        max_rotation_degrees=5,
        elastic_alpha=0,
        max_scale=0.1,
    )
    np.testing.assert_array_equal(got, drawn)


def test_random_distort_needs_a_positive_sigma(images):
    with pytest.raises(ConfigError, match="elastic_sigma"):
        random_distort(images, 0, elastic_sigma=0)


@pytest.mark.parametrize(
    "option, value",
    [
        ("max_shift", float("nan")),
        ("max_shift", -1.0),
        ("max_shift", 1e300),
        ("max_rotation_degrees", float("inf")),
        ("elastic_alpha", float("nan")),
        ("elastic_alpha", -34.0),
        ("elastic_alpha", float("inf")),
        ("elastic_sigma", 1e200),
        ("max_scale", "0.1"),
    ],
)
def test_random_distort_refuses_a_setting_out_of_range(images, option, value):
    with pytest.raises(ConfigError, match=option):
        random_distort(images, 0, **{option: value})


def test_random_distort_of_no_images_and_of_half_floats(images):
    none = random_distort(np.zeros((0, 784), np.float32), 0)
    assert none.shape == (0, 784) and none.dtype == np.float32
    half = random_distort(images[:2].astype(np.float16), 0)
    assert half.dtype == np.float32 and half.shape == (2, 784) and np.isfinite(half).all()


def test_distort_epoch_refuses_a_strength_that_leaves_no_digit(images):
    with pytest.raises(ConfigError, match="max_shift"):
        distort_epoch(images, 0, 1, (784,), strength=1e300)


def test_expand_shifts_wants_one_label_per_image():
    x = np.zeros((2, 784), np.float32)
    with pytest.raises(ShapeError, match=r"labels of shape \(2,\), not \(2, 10\)"):
        expand_shifts(x, np.zeros((2, 10)))
