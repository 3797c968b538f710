"""The CPU pooling against a loop reference, the book's example, finite differences, errors."""

import numpy as np
import pytest

from gpunn.errors import ConfigError, ShapeError
from gpunn.functions.pool import argmax_dtype, pool_backward, pool_forward, pool_output_shape
from tests.gradcheck import assert_close, numerical_grad

KINDS = ["max", "mean", "l2"]
SHAPES = [((2, 3, 4, 4), 2), ((2, 2, 7, 9), 2), ((1, 3, 7, 9), 3), ((2, 1, 5, 4), 1)]


def pool_reference(a, size, kind):
    """y and the row-major argmax, one window at a time (first maximum on ties)."""
    n_, c_, h, w = a.shape
    y = np.zeros((n_, c_, h // size, w // size))
    argmax = np.zeros(y.shape, np.int64)
    for n, c, i, j in np.ndindex(*y.shape):
        window = a[n, c, i * size : (i + 1) * size, j * size : (j + 1) * size].astype(np.float64)
        argmax[n, c, i, j] = np.argmax(window)  # first occurrence, row-major
        y[n, c, i, j] = {
            "max": window.max(),
            "mean": window.mean(),
            "l2": np.sqrt(np.sum(window**2)),
        }[kind]
    return y, argmax


def distinct(rng, shape, dtype=np.float64):
    """Distinct values (a stable argmax), away from 0 (a smooth l2)."""
    values = rng.permutation(np.prod(shape)).reshape(shape) + 1.0
    return (values * rng.choice([-1, 1], size=shape) / np.prod(shape)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape, size", SHAPES)
def test_forward_matches_reference(rng, shape, size, kind, dtype):
    a = distinct(rng, shape, dtype)
    y, argmax = pool_forward(a, size, kind)
    y_ref, argmax_ref = pool_reference(a, size, kind)
    assert y.shape == pool_output_shape(shape, size) and y.dtype == dtype
    np.testing.assert_allclose(y, y_ref, rtol=1e-6 if dtype == np.float32 else 1e-12)
    if kind == "max":
        assert argmax.dtype == argmax_dtype(size) == np.int8
        np.testing.assert_array_equal(argmax, argmax_ref)
    else:
        assert argmax is None


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape, size", SHAPES)
def test_gradients_match_finite_differences(rng, shape, size, kind):
    a = distinct(rng, shape)
    y, argmax = pool_forward(a, size, kind)
    gy = rng.standard_normal(y.shape)
    ga = pool_backward(gy, a, y, argmax, size, kind)
    assert ga.shape == a.shape
    h = 1e-7 if kind == "max" else 1e-6  # below the gap between distinct values
    assert_close(
        ga, numerical_grad(lambda: float(np.sum(gy * pool_forward(a, size, kind)[0])), a, h)
    )


def test_the_books_example():
    """A 2×2 error routed to the maxima of a 4×4 input; spread evenly (÷4) by mean pooling."""
    a = np.array(
        [[1, 5, 0, 2], [3, 0, 7, 1], [9, 2, 1, 1], [0, 4, 8, 3]], dtype=np.float64
    ).reshape(1, 1, 4, 4)
    gy = np.array([[2, 8], [4, 6]], dtype=np.float64).reshape(1, 1, 2, 2)
    y, argmax = pool_forward(a, 2, "max")
    np.testing.assert_array_equal(y[0, 0], [[5, 7], [9, 8]])
    expected = np.zeros((4, 4))
    expected[0, 1], expected[1, 2], expected[2, 0], expected[3, 2] = 2, 8, 4, 6
    np.testing.assert_array_equal(pool_backward(gy, a, y, argmax, 2, "max")[0, 0], expected)
    y, _ = pool_forward(a, 2, "mean")
    mean = np.repeat(np.repeat(gy[0, 0] / 4, 2, axis=0), 2, axis=1)
    np.testing.assert_array_equal(pool_backward(gy, a, y, None, 2, "mean")[0, 0], mean)


def test_ties_go_to_the_first_maximum_and_the_border_gets_zero():
    a = np.array([[1, 3, 9], [3, 0, 9], [9, 9, 9]], dtype=np.float32).reshape(1, 1, 3, 3)
    y, argmax = pool_forward(a, 2, "max")
    assert y[0, 0, 0, 0] == 3 and argmax[0, 0, 0, 0] == 1
    ga = pool_backward(np.ones_like(y), a, y, argmax, 2, "max")
    np.testing.assert_array_equal(ga[0, 0], [[0, 1, 0], [0, 0, 0], [0, 0, 0]])


def test_l2_of_an_all_zero_window_has_zero_gradient():
    a = np.zeros((1, 1, 2, 4))
    a[0, 0, 0, 2] = 3.0
    y, _ = pool_forward(a, 2, "l2")
    np.testing.assert_array_equal(y[0, 0], [[0, 3]])
    ga = pool_backward(np.ones_like(y), a, y, None, 2, "l2")  # no division warning (errors here)
    np.testing.assert_array_equal(ga[0, 0], [[0, 0, 1, 0], [0, 0, 0, 0]])


@pytest.mark.parametrize("kind", KINDS)
def test_any_memory_layout_in_same_layout_out(rng, kind):
    """conv_forward's z is an (N, F, ...) view of (F, N, ...) memory; ga keeps that layout."""
    a_t = distinct(rng, (3, 2, 6, 5)).transpose(1, 0, 2, 3)
    a = np.ascontiguousarray(a_t)
    y, argmax = pool_forward(a_t, 2, kind)
    y_c, argmax_c = pool_forward(a, 2, kind)
    np.testing.assert_array_equal(y, y_c)
    gy = rng.standard_normal(y.shape)
    ga = pool_backward(gy, a_t, y, argmax, 2, kind)
    np.testing.assert_array_equal(ga, pool_backward(gy, a, y_c, argmax_c, 2, kind))
    assert ga.strides == a_t.strides


def test_large_windows_use_int32_argmax(rng):
    assert argmax_dtype(11) == np.int8 and argmax_dtype(12) == np.int32
    a = distinct(rng, (1, 1, 12, 12))
    _, argmax = pool_forward(a, 12, "max")
    assert argmax.dtype == np.int32 and argmax[0, 0, 0, 0] == np.argmax(a)


def test_impossible_shapes_and_options_are_refused():
    a = np.zeros((2, 3, 5, 5))
    with pytest.raises(ShapeError, match=r"\(2, 3, 1, 5\).*2×2"):
        pool_forward(np.zeros((2, 3, 1, 5)), 2)
    with pytest.raises(ShapeError, match=r"\(3, 5, 5\)"):
        pool_forward(np.zeros((3, 5, 5)), 2)
    with pytest.raises(ConfigError, match="median"):
        pool_forward(a, 2, "median")
    with pytest.raises(ConfigError):
        pool_forward(a, 0)
    y, argmax = pool_forward(a, 2)
    with pytest.raises(ShapeError, match=r"gy \(2, 3, 3, 3\).*\(2, 3, 2, 2\)"):
        pool_backward(np.zeros((2, 3, 3, 3)), a, y, argmax, 2)
    with pytest.raises(ShapeError, match="argmax"):
        pool_backward(np.zeros_like(y), a, y, None, 2, "max")
    with pytest.raises(TypeError):
        pool_forward(a.astype(np.int32), 2)


@pytest.mark.parametrize("kind", KINDS)
def test_threads_over_examples_give_the_same_answer(rng, monkeypatch, kind):
    from gpunn.kernels import threads

    a = distinct(rng, (5, 2, 7, 9))
    y_ref, argmax_ref = pool_reference(a, 2, kind)
    gy = rng.standard_normal(y_ref.shape)
    ga_1 = pool_backward(gy, a, *pool_forward(a, 2, kind), 2, kind)
    monkeypatch.setattr(threads, "MIN_ELEMENTS", 0)
    monkeypatch.setattr(threads, "MIN_EXAMPLES", 0)
    monkeypatch.setattr(threads, "workers", lambda: 3)
    monkeypatch.setattr(threads, "_pool", None)
    y, argmax = pool_forward(a, 2, kind)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12)
    if kind == "max":
        np.testing.assert_array_equal(argmax, argmax_ref)
    np.testing.assert_array_equal(pool_backward(gy, a, y, argmax, 2, kind), ga_1)


def layouts(a):
    """a C-contiguous, as conv_forward's transposed z, and as a strided slice."""
    t = np.ascontiguousarray(a.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    wide = np.zeros(a.shape[:3] + (2 * a.shape[3] + 1,), a.dtype)
    wide[..., 1::2] = a
    return {"c": a, "transposed": t, "strided": wide[..., 1::2]}


def awkward(rng, shape, dtype):
    """Small integers (many ties) with ±0, ±inf and NaN sprinkled in."""
    a = rng.integers(-2, 3, size=shape).astype(dtype)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan], dtype)
    where = rng.random(shape) < 0.3
    a[where] = rng.choice(specials, size=int(where.sum()))
    return a


def assert_same_bits(x, y):
    assert x.shape == y.shape and x.dtype == y.dtype
    np.testing.assert_array_equal(
        np.ascontiguousarray(x).view(np.uint8), np.ascontiguousarray(y).view(np.uint8)
    )


@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("layout", ["c", "transposed", "strided"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 3, 4, 4), (3, 2, 7, 9), (2, 2, 5, 2), (1, 1, 2, 3)])
def test_2x2_max_pooling_is_the_general_loop_bit_for_bit(
    rng, monkeypatch, shape, dtype, layout, split
):
    """The unrolled p = 2 forward: same y, first-maximum argmax, NaN and ±0 as the general loop."""
    from gpunn.kernels import cpu, threads

    if split:  # ranges of examples on 2 threads: sliced views of a, y and argmax
        monkeypatch.setattr(threads, "MIN_ELEMENTS", 0)
        monkeypatch.setattr(threads, "MIN_EXAMPLES", 0)
        monkeypatch.setattr(threads, "workers", lambda: 2)
        monkeypatch.setattr(threads, "_pool", None)
    a = layouts(awkward(rng, shape, dtype))[layout]
    y, argmax = pool_forward(a, 2, "max")
    y_ref, argmax_ref = np.empty_like(y), np.empty_like(argmax)
    cpu.pool_forward(a, 2, cpu.MAX, y_ref, argmax_ref)
    assert_same_bits(y, y_ref)
    assert_same_bits(argmax, argmax_ref)
