"""Deskewing: the slant measured, sheared away about the centre of mass, nothing else moved."""

import numpy as np
import pytest

from gpunn.backend import to_numpy
from gpunn.data import deskew as deskew_module
from gpunn.data.deskew import MAX_SLANT, deskew, slants


def slanted_strokes(slopes, h=28, w=28, dtype=np.float32):
    """(N, 1, H, W): a one-pixel-wide vertical stroke over rows 4..23 per slope, leaning by
    ``slope`` columns per row about row 13.5 and column 13.5 (bilinear, so sub-pixel exact)."""
    images = np.zeros((len(slopes), 1, h, w), dtype=dtype)
    rows = np.arange(4, 24)
    for n, slope in enumerate(slopes):
        cols = 13.5 + slope * (rows - 13.5)
        left = np.floor(cols).astype(int)
        frac = cols - left
        images[n, 0, rows, left] = 1 - frac
        images[n, 0, rows, left + 1] = frac
    return images


def test_the_slant_is_the_slope_of_column_on_row():
    slopes = [0.0, 0.3, -0.25]
    alpha, y_bar = slants(slanted_strokes(slopes))
    np.testing.assert_allclose(alpha, slopes, atol=1e-6)
    np.testing.assert_allclose(y_bar, 13.5, atol=1e-9)


def test_deskewing_stands_a_leaning_stroke_upright_about_its_centre(device):
    images = slanted_strokes([0.3, -0.25, 0.0])
    out = to_numpy(deskew(device.send(images.reshape(3, 784)), (784,))).reshape(3, 1, 28, 28)
    alpha, y_bar = slants(out)
    np.testing.assert_allclose(alpha, 0.0, atol=1e-5)
    np.testing.assert_allclose(y_bar, 13.5, atol=1e-5)  # the centre's row did not move
    cols = np.arange(28)
    for image in out[:, 0]:
        ink = image[4:24]  # each row's ink now centred on column 13.5
        np.testing.assert_allclose(ink @ cols / ink.sum(axis=1), 13.5, atol=1e-5)
    np.testing.assert_array_equal(out[2], images[2])  # an upright stroke is left as it was


def test_blank_images_flat_strokes_and_range():
    images = np.zeros((3, 1, 28, 28), np.float32)
    images[1, 0, 10, 5:20] = 1.0  # all the ink in one row: no slant to measure
    images[2] = np.random.default_rng(0).random((1, 28, 28))
    alpha, y_bar = slants(images)
    assert alpha[0] == 0 and alpha[1] == 0 and y_bar[0] == 13.5
    out = deskew(images, (1, 28, 28))
    np.testing.assert_array_equal(out[:2], images[:2])
    assert out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1


def test_the_slant_is_clipped():
    images = np.zeros((1, 1, 28, 28), np.float32)
    images[0, 0, [10, 11], [5, 20]] = 1.0  # two points: a slope of 15 columns per row
    alpha, _ = slants(images)
    assert alpha[0] == MAX_SLANT


def test_a_shift_before_deskewing_is_the_same_shift_after_it(rng):
    images = np.zeros((4, 1, 28, 28), np.float64)
    images[:, :, 6:22, 6:22] = rng.random((4, 1, 16, 16))  # a margin, so nothing is cut
    down = np.roll(images, 1, axis=2)
    right = np.roll(images, 1, axis=3)
    out = deskew(images, (1, 28, 28))
    np.testing.assert_allclose(deskew(down, (1, 28, 28)), np.roll(out, 1, axis=2), atol=1e-12)
    np.testing.assert_allclose(deskew(right, (1, 28, 28)), np.roll(out, 1, axis=3), atol=1e-12)
    assert out.dtype == np.float64


def test_channels_share_one_shear_and_chunks_change_nothing(rng, monkeypatch):
    one = slanted_strokes([0.2, -0.1, 0.35, 0.05, 0.0]).astype(np.float64)
    two = np.concatenate([one, 0.5 * one], axis=1)  # (5, 2, 28, 28)
    whole = deskew(two, (2, 28, 28))
    np.testing.assert_allclose(whole[:, 1], 0.5 * whole[:, 0], atol=1e-12)
    monkeypatch.setattr(deskew_module, "_CHUNK", 2)
    np.testing.assert_array_equal(deskew(two, (2, 28, 28)), whole)


@pytest.mark.parametrize("shape", [(784,), (1, 28, 28)])
def test_flat_and_image_shaped_inputs_agree(shape, rng):
    x = rng.random((3, 784), dtype=np.float32)
    out = deskew(x.reshape((3, *shape)), shape)
    assert out.shape == (3, *shape)
    np.testing.assert_array_equal(out.reshape(3, 784), deskew(x, (784,)))


@pytest.mark.gpu
def test_the_gpu_deskews_as_the_cpu_does(rng):
    from gpunn.backend import get_device

    x = (rng.random((50, 784)) * (rng.random((50, 784)) < 0.3)).astype(np.float32)
    on_gpu = to_numpy(deskew(get_device("gpu").send(x), (784,)))
    np.testing.assert_allclose(on_gpu, deskew(x, (784,)), rtol=1e-5, atol=1e-5)


def test_a_non_finite_image_passes_unchanged_and_leaves_the_others_be():
    images = slanted_strokes([0.3, 0.3])
    images[1, 0, 5, 5] = np.nan  # the trainer's skip-batch policy lets such images through
    alpha, y_bar = slants(images)
    assert alpha[1] == 0 and y_bar[1] == 13.5 and alpha[0] != 0
    out = deskew(images, (1, 28, 28))
    finite = np.isfinite(out[1])  # NaN, times a bilinear weight of 0, reaches 3 neighbours
    assert np.isnan(out[1, 0, 5, 5]) and finite.sum() >= 784 - 4
    np.testing.assert_array_equal(out[1][finite], images[1][finite])
    np.testing.assert_allclose(slants(out[:1])[0], 0.0, atol=1e-5)


def test_integer_images_are_deskewed_in_float32():
    images = (slanted_strokes([0.3, -0.2]) > 0.5).astype(np.uint8)
    out = deskew(images, (1, 28, 28))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, deskew(images.astype(np.float32), (1, 28, 28)))


def test_images_of_another_size_are_a_shape_error():
    from gpunn.errors import ShapeError

    with pytest.raises(ShapeError, match="do not hold 1x28x28 images"):
        deskew(np.zeros((2, 700), np.float32))
