"""gpunn.values: one meaning of "an integer" and "a number" for every check."""

import math
from fractions import Fraction

import numpy as np
import pytest

from gpunn.errors import ConfigError
from gpunn.values import check_positive_integer, is_finite_in, is_integer, is_real, plain


@pytest.mark.parametrize("v", [0, -3, 2**70, np.int8(1), np.uint64(7)])
def test_python_and_numpy_integers_are_integers(v):
    assert is_integer(v) and is_real(v)


@pytest.mark.parametrize("v", [True, np.True_, 1.0, np.float32(1), "1", None, [1], 1j])
def test_bools_floats_strings_and_others_are_not_integers(v):
    assert not is_integer(v)


@pytest.mark.parametrize("v", [True, False, np.True_, "0.5", None, 1j, np.complex64(1), [0.5]])
def test_bools_and_non_numbers_are_not_real(v):
    assert not is_real(v)


def test_finite_in_a_range():
    assert is_finite_in(0.5, 0, 1) and is_finite_in(np.float32(1), 0, 1) and is_finite_in(0, 0, 1)
    for v in (math.nan, math.inf, -math.inf, 1.5, -0.1, True, "0.5"):
        assert not is_finite_in(v, 0, 1), v


def test_positive_integer_message_names_the_setting_and_its_place():
    check_positive_integer("n", np.int64(3))
    with pytest.raises(ConfigError, match=r"^FC: n_out must be a positive integer, got 0$"):
        check_positive_integer("n_out", 0, where="FC")
    for v in (True, 2.0, "2", None):
        with pytest.raises(ConfigError, match=r"^epochs must be a positive integer, got "):
            check_positive_integer("epochs", v)


def test_plain_makes_other_numbers_python_ones_and_leaves_the_rest():
    for v, want in ((np.int64(3), 3), (np.float32(0.5), 0.5), (Fraction(1, 4), 0.25)):
        assert plain(v) == want and type(plain(v)) is type(want)
    for v in (3, 0.5, True, "cosine", None, np.True_):
        assert plain(v) is v
