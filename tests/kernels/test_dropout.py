"""The device-keyed dropout mask kernel against the host's masks (the simulator without a GPU)."""

import numpy as np
import pytest

from gpunn import backend
from gpunn.functions.dropout import StepKey, _threshold, dropout_mask, mask_key
from gpunn.kernels.dropout import dropout_mask_on_device


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "seed, step, layer, p, shape",
    [
        (0, 0, 0, 0.5, (3, 7)),
        (7, 123_456, 3, 0.2, (2, 5, 3)),
        (2**31 + 5, 2**33 + 9, 1, 0.9, (37,)),
    ],
)
def test_device_keyed_mask_matches_the_host_mask(kernel_arrays, seed, step, layer, p, shape, dtype):
    expected = dropout_mask(np, shape, dtype, p, mask_key(seed, step, layer))
    steps = kernel_arrays(np.array([step], np.int64))
    out = kernel_arrays(np.full(shape, 7, dtype))
    dropout_mask_on_device(out, StepKey(seed, steps, layer), _threshold(p))
    np.testing.assert_array_equal(backend.to_numpy(out), expected)


def test_the_step_is_read_when_the_kernel_runs(kernel_arrays):
    """Changing the step array in place changes the next mask, as a replayed graph needs."""
    steps = kernel_arrays(np.array([4], np.int64))
    out = kernel_arrays(np.zeros(64, np.float32))
    dropout_mask_on_device(out, StepKey(1, steps, 2), _threshold(0.5))
    first = backend.to_numpy(out).copy()
    steps[0] = 5
    dropout_mask_on_device(out, StepKey(1, steps, 2), _threshold(0.5))
    np.testing.assert_array_equal(
        backend.to_numpy(out), dropout_mask(np, (64,), np.float32, 0.5, mask_key(1, 5, 2))
    )
    assert not np.array_equal(first, backend.to_numpy(out))


def test_a_step_key_on_the_cpu_reads_the_step_on_the_host():
    steps = np.array([11], np.int64)
    got = dropout_mask(np, (5, 4), np.float32, 0.3, StepKey(3, steps, 1))
    np.testing.assert_array_equal(
        got, dropout_mask(np, (5, 4), np.float32, 0.3, mask_key(3, 11, 1))
    )


def test_numpy_integer_steps_are_host_steps():
    from gpunn.functions.dropout import step_key

    assert step_key(3, np.int64(11), 1) == mask_key(3, 11, 1)
    assert isinstance(step_key(3, np.array([11]), 1), StepKey)
