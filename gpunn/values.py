"""The numbers users hand to gpunn, recognised one way everywhere: Python or NumPy scalars,
never ``bool`` (``True`` is an ``int`` to Python, and a slip to a user)."""

from __future__ import annotations

import math

import numpy as np

from gpunn.errors import ConfigError


def is_integer(v: object) -> bool:
    """Whether v is an int or a NumPy integer, and not a bool."""
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def is_real(v: object) -> bool:
    """Whether v is an int, a float or a NumPy integer or float, and not a bool."""
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)


def is_finite_in(v: object, low: float = -math.inf, high: float = math.inf) -> bool:
    """Whether v is a finite real number in [low, high]."""
    return is_real(v) and math.isfinite(v) and low <= v <= high


def check_positive_integer(name: str, v: object, where: str = "") -> None:
    """ConfigError ("where: name must be a positive integer, got v") unless v is an integer ≥ 1."""
    if not is_integer(v) or v < 1:
        prefix = f"{where}: " if where else ""
        raise ConfigError(f"{prefix}{name} must be a positive integer, got {v!r}")
