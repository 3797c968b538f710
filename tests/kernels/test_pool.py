"""The CUDA pooling kernels, launched directly, against the NumPy path (small shapes)."""

import numpy as np
import pytest

from gpunn import backend
from gpunn.functions.pool import pool_backward, pool_forward
from gpunn.kernels import pool as kernels


def distinct(rng, shape, dtype):
    """Distinct values of both signs: a stable argmax, no all-zero l2 window."""
    values = (rng.permutation(np.prod(shape)).reshape(shape) + 1.0) / np.prod(shape)
    return (values * rng.choice([-1, 1], size=shape)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["max", "mean", "l2"])
@pytest.mark.parametrize("shape, size", [((1, 3, 7, 9), 2), ((2, 2, 7, 9), 3), ((1, 1, 3, 4), 1)])
def test_kernels_match_the_numpy_path(rng, kernel_arrays, shape, size, kind, dtype):
    a = distinct(rng, shape, dtype)
    y_ref, argmax_ref = pool_forward(a, size, kind)
    gy = rng.standard_normal(y_ref.shape).astype(dtype)
    ga_ref = pool_backward(gy, a, y_ref, argmax_ref, size, kind)

    y, argmax = kernels.pool_forward(kernel_arrays(a), size, kind)
    assert y.dtype == dtype
    np.testing.assert_allclose(backend.to_numpy(y), y_ref, rtol=1e-6)
    if kind == "max":
        assert argmax.dtype == argmax_ref.dtype
        np.testing.assert_array_equal(backend.to_numpy(argmax), argmax_ref)
    else:
        assert argmax is None
    ga = kernels.pool_backward(kernel_arrays(gy), kernel_arrays(a), y, argmax, size, kind)
    assert ga.dtype == dtype
    np.testing.assert_allclose(backend.to_numpy(ga), ga_ref, rtol=1e-6, atol=1e-7)


def test_ties_and_zero_windows(kernel_arrays):
    """Ties go to the first maximum; an all-zero l2 window gets gradient 0, not NaN."""
    a = np.array([[3, 3, 0, 0], [3, 1, 0, 0]], np.float32).reshape(1, 1, 2, 4)
    y, argmax = kernels.pool_forward(kernel_arrays(a), 2, "max")
    np.testing.assert_array_equal(backend.to_numpy(argmax)[0, 0], [[0, 0]])
    y, _ = kernels.pool_forward(kernel_arrays(a), 2, "l2")
    ones = kernel_arrays(np.ones((1, 1, 1, 2), np.float32))
    ga = backend.to_numpy(kernels.pool_backward(ones, kernel_arrays(a), y, None, 2, "l2"))
    assert np.all(np.isfinite(ga)) and np.all(ga[0, 0, :, 2:] == 0)
