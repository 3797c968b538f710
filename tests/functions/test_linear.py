"""matmul on NumPy arrays (the CPU path, and the product CuPy falls back to)."""

import numpy as np
import pytest

from gpunn.functions.linear import array_product, matmul


@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_transposes_are_asked_for_not_built(rng, trans_a, trans_b):
    a = rng.standard_normal((3, 4) if trans_a else (4, 3))
    b = rng.standard_normal((5, 3) if trans_b else (3, 5))
    expected = (a.T if trans_a else a) @ (b.T if trans_b else b)
    np.testing.assert_array_equal(matmul(a, b, trans_a, trans_b), expected)


@pytest.mark.parametrize("product", [matmul, array_product])
@pytest.mark.parametrize("accumulate", [False, True])
def test_into_a_column_slice_or_added_to_it(rng, product, accumulate):
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((5, 3))
    out = np.ones((4, 7))
    got = product(a, b, False, True, out=out[:, 1:6], accumulate=accumulate)
    assert np.shares_memory(got, out)
    np.testing.assert_allclose(out[:, 1:6], a @ b.T + (1 if accumulate else 0))
    assert (out[:, [0, 6]] == 1).all()


def test_accumulate_needs_an_output():
    with pytest.raises(ValueError, match="accumulate needs out"):
        matmul(np.ones((2, 3)), np.ones((3, 4)), accumulate=True)
