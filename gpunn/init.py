"""Weight initialisations: the book's "large" N(0, 1), its default N(0, 1/n_in), and network3's.

Weights are drawn on the host from a seeded NumPy generator and then sent to the
device, so a given seed gives the same starting network on the CPU and the GPU.
"""

from __future__ import annotations

import numpy as np

from gpunn.errors import ConfigError

# std of the weights given (n_in, n_out); biases are N(0, 1) unless the scheme is "zeros"
WEIGHT_STD = {
    "default": lambda n_in, n_out: 1.0 / np.sqrt(n_in),  # chapter 3: N(0, 1/n_in)
    "large": lambda n_in, n_out: 1.0,  # chapter 1: N(0, 1)
    "network3": lambda n_in, n_out: np.sqrt(1.0 / n_out),  # network3.py's layers
    "zeros": lambda n_in, n_out: 0.0,  # network3.py's softmax layer
}


# how plots and tables name them
INIT_WORDS = {
    "default": "N(0, 1/n_in)",
    "large": "N(0, 1)",
    "network3": "N(0, 1/n_out)",
    "zeros": "zeros",
}


def check_init(scheme: str) -> str:
    if not isinstance(scheme, str) or scheme not in WEIGHT_STD:
        raise ConfigError(f"unknown init {scheme!r}: choose one of {', '.join(WEIGHT_STD)}")
    return scheme


def init_params(scheme: str, w_shape, n_in: int, n_out: int, rng: np.random.Generator):
    """(w, b) as float64 NumPy arrays: w ~ N(0, std²) of ``w_shape``, b ~ N(0, 1) per unit."""
    std = WEIGHT_STD[check_init(scheme)](n_in, n_out)
    n_b = w_shape[0]
    if scheme == "zeros":
        return np.zeros(w_shape), np.zeros(n_b)
    return rng.normal(0.0, std, size=w_shape), rng.normal(0.0, 1.0, size=n_b)
