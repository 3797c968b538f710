"""gpunn.arguments: the command line's value types refuse bad text with one clear message."""

import argparse

import pytest

from gpunn.arguments import nonneg_float, nonneg_int, positive_float, positive_int


@pytest.mark.parametrize(
    "parse, text, value",
    [(positive_int, "3", 3), (nonneg_int, "0", 0), (positive_float, "1e-3", 1e-3),
     (nonneg_float, "0", 0.0)],
)  # fmt: skip
def test_good_text_is_read(parse, text, value):
    assert parse(text) == value


@pytest.mark.parametrize(
    "parse, text, message",
    [
        (positive_int, "0", "must be a positive integer, got 0"),
        (positive_int, "2.5", "'2.5' is not an integer"),
        (nonneg_int, "-1", "must be a non-negative integer, got -1"),
        (positive_float, "0", "must be a finite positive number, got 0"),
        (positive_float, "inf", "must be a finite positive number, got inf"),
        (nonneg_float, "nan", "must be a finite non-negative number, got nan"),
        (nonneg_float, "x", "'x' is not a number"),
    ],
)
def test_bad_text_is_one_message(parse, text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=f"^{message}$".replace(".", r"\.")):
        parse(text)
