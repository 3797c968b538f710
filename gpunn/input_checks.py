"""The checks a network puts its inputs through, each failing with one clear error.

Shapes (x is (N,) + input_shape or flattened, (N, prod)), values (real, finite, pixels in
[0, 1]), labels (integers in 0 .. n_outputs − 1, one per image), the input shape itself,
the input transforms a network may apply, and evaluation batch sizes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gpunn.backend import get_array_module
from gpunn.errors import ConfigError, DataError, ShapeError
from gpunn.values import check_positive_integer, is_integer


def check_input_shape(input_shape: Any) -> tuple[int, ...]:
    """``input_shape`` as a tuple of ints; ShapeError unless it is a non-empty tuple or list
    of positive integers."""
    sizes = input_shape if isinstance(input_shape, list | tuple) else [None]
    if not sizes or not all(is_integer(s) and s >= 1 for s in sizes):
        raise ShapeError(
            f"input_shape must be a tuple of positive integers such as (784,) or "
            f"(1, 28, 28), got {input_shape!r}"
        )
    return tuple(int(s) for s in sizes)


def check_examples(
    x, labels, input_shape: tuple[int, ...], n_outputs: int, name: str = "the", finite: bool = True
) -> None:
    """ShapeError unless x is (N,) + input_shape or (N, prod) and labels (N,); DataError
    unless x holds real numbers, finite ones if ``finite`` (integer pixels only 0 and 1:
    0–255 must be divided by 255 first), and labels are integers in 0 .. n_outputs − 1."""
    x = x if hasattr(x, "dtype") else np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise DataError(f"{name} images must be real numbers, got dtype {x.dtype}")
    check_input(x, input_shape)
    if finite and x.size and x.dtype.kind == "f" and not get_array_module(x).isfinite(x).all():
        raise DataError(f"{name} images hold NaN or infinite values")
    if x.size and x.dtype.kind in "iu" and not 0 <= int(x.min()) <= int(x.max()) <= 1:
        raise DataError(
            f"{name} images are integers from {int(x.min())} to {int(x.max())}: give pixels "
            f"as floats in [0, 1] (x / 255 for 8-bit images), as the network was trained on"
        )
    if labels is None:
        return
    y = labels if hasattr(labels, "dtype") else np.asarray(labels)
    if y.dtype.kind not in "iu":
        raise DataError(f"{name} labels must be integers, got dtype {y.dtype}")
    if y.shape != (len(x),):
        raise ShapeError(f"{name} labels have shape {y.shape}, but there are {len(x)} images")
    if len(x):
        lo, hi = int(y.min()), int(y.max())  # one read per call, not per batch
        if lo < 0 or hi >= n_outputs:
            raise DataError(
                f"{name} labels run from {lo} to {hi}, but the network has "
                f"{n_outputs} outputs (classes 0 to {n_outputs - 1})"
            )


def check_input(x, input_shape: tuple[int, ...]) -> None:
    """Raise ShapeError unless x is (N,) + input_shape or (N, prod(input_shape))."""
    flat = int(np.prod(input_shape))
    if x.ndim < 2 or tuple(x.shape[1:]) not in (input_shape, (flat,)):
        raise ShapeError(
            f"the network takes inputs of shape (N, {flat}) or (N,) + {input_shape}, "
            f"got {tuple(x.shape)}"
        )


# the transforms a network may put its inputs through (``Network.prepare``), and how they read
INPUT_TRANSFORMS = {"deskew": "deskewed"}


def check_input_transform(name, input_shape: tuple[int, ...]) -> str | None:
    """``name`` (None, or one of INPUT_TRANSFORMS) if it fits inputs of ``input_shape``;
    ConfigError otherwise: deskewing needs images, (C, H, W) or flat 28×28 digits."""
    if name is None:
        return None
    if not isinstance(name, str) or name not in INPUT_TRANSFORMS:
        raise ConfigError(
            f"unknown input transform {name!r}: choose one of {', '.join(INPUT_TRANSFORMS)}"
        )
    if len(input_shape) != 3 and input_shape != (784,):
        raise ConfigError(
            f"input transform {name!r} needs images, of shape (C, H, W) or (784,) for "
            f"28×28 digits, not inputs of shape {input_shape}"
        )
    return name


def check_batch_size(batch_size) -> None:
    """ConfigError unless ``batch_size`` (of evaluation) is a positive integer."""
    check_positive_integer("batch_size", batch_size)
