"""Costs: values against their definitions, and stability at saturation (no overflow, no log 0)."""

import numpy as np
import pytest

from gpunn.errors import ConfigError
from gpunn.functions.activations import Sigmoid, Softmax, get_activation
from gpunn.functions.costs import CrossEntropyCost, LogLikelihoodCost, QuadraticCost, get_cost


def test_values_match_definitions(rng):
    z = rng.standard_normal((5, 4))
    y = np.eye(4)[rng.integers(0, 4, 5)]
    a = 1 / (1 + np.exp(-z))
    assert QuadraticCost().fn(z, a, y) == pytest.approx(0.5 * ((a - y) ** 2).sum())
    ce = -(y * np.log(a) + (1 - y) * np.log(1 - a)).sum()
    assert CrossEntropyCost().fn(z, a, y) == pytest.approx(ce)
    s = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    assert LogLikelihoodCost().fn(z, s, y) == pytest.approx(-np.log((s * y).sum(1)).sum())


def test_large_logits_are_finite():
    z = np.array([[1000.0, -1000.0, 0.0]], dtype=np.float32)
    y = np.array([[0.0, 1.0, 0.0]], dtype=np.float32)
    a = Softmax().forward(z)
    assert np.isfinite(a).all() and a[0, 0] == pytest.approx(1.0)
    assert LogLikelihoodCost().fn(z, a, y) == pytest.approx(2000.0)
    sa = Sigmoid().forward(z)
    assert np.isfinite(sa).all()
    assert np.isfinite(CrossEntropyCost().fn(z, sa, y))


def test_activation_derivatives(rng):
    z = rng.standard_normal(50)
    h = 1e-6
    for name in ("sigmoid", "tanh", "relu", "linear"):
        act = get_activation(name)
        numeric = (act.forward(z + h) - act.forward(z - h)) / (2 * h)
        np.testing.assert_allclose(
            act.backward(z, act.forward(z), np.ones_like(z)), numeric, rtol=1e-5, atol=1e-8
        )


def test_unknown_names():
    with pytest.raises(ConfigError, match="unknown cost"):
        get_cost("hinge")
    with pytest.raises(ConfigError, match="unknown activation"):
        get_activation("gelu")
