"""The numbers users hand to gpunn, recognised one way everywhere: Python or NumPy scalars
(anything registered as ``numbers.Integral`` / ``numbers.Real``), never ``bool`` (``True``
is an ``int`` to Python, and a slip to a user). NumPy itself is not imported here: the
command line's start-up stays light."""

from __future__ import annotations

import math
import numbers

from gpunn.errors import ConfigError


def is_integer(v: object) -> bool:
    """Whether v is an int or a NumPy integer, and not a bool."""
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def is_real(v: object) -> bool:
    """Whether v is a real number (an int, a float, a NumPy integer or float), not a bool."""
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def is_finite_in(v: object, low: float = -math.inf, high: float = math.inf) -> bool:
    """Whether v is a finite real number in [low, high]."""
    return is_real(v) and math.isfinite(v) and low <= v <= high


def plain(v: object) -> object:
    """v as a Python int or float when it is another kind of number (NumPy's, a Fraction),
    so that JSON can hold it; anything else unchanged."""
    if is_integer(v) and type(v) is not int:
        return int(v)
    if is_real(v) and not isinstance(v, numbers.Integral) and type(v) is not float:
        return float(v)
    return v


def check_positive_integer(name: str, v: object, where: str = "") -> None:
    """ConfigError ("where: name must be a positive integer, got v") unless v is an integer ≥ 1."""
    if not is_integer(v) or v < 1:
        prefix = f"{where}: " if where else ""
        raise ConfigError(f"{prefix}{name} must be a positive integer, got {v!r}")
