"""The book's costs: quadratic, cross-entropy and log-likelihood.

Each cost gives ``fn(z, a, y)``, the cost summed over the mini-batch, and
``delta(activation, z, a, y)``, the output error δ^L = ∂C/∂z^L for one example
(the network averages over the batch). ``y`` is one-hot, shape (N, classes).

- quadratic:      C = ½‖a − y‖²,                    δ = (a − y) ⊙ σ'(z)
- cross-entropy:  C = −Σ [y ln a + (1 − y) ln(1 − a)], δ = a − y   (sigmoid output)
- log-likelihood: C = −ln a_y,                       δ = a − y   (softmax output)

The logarithms are taken from z (softplus and log-sum-exp), never from a, so a
saturated neuron gives a large finite cost rather than log(0).
"""

from __future__ import annotations

from gpunn.backend import get_array_module
from gpunn.errors import ConfigError
from gpunn.functions.activations import Activation


class Cost:
    name = ""
    output_activations: tuple[str, ...] = ()

    def check_output(self, activation: Activation) -> None:
        """Raise ConfigError when this cost is not defined for the output activation."""
        if self.output_activations and activation.name not in self.output_activations:
            allowed = " or ".join(self.output_activations)
            raise ConfigError(
                f"the {self.name} cost needs a {allowed} output layer, not {activation.name}"
            )

    def __repr__(self) -> str:
        return self.name


class QuadraticCost(Cost):
    name = "quadratic"

    def fn(self, z, a, y):
        d = a - y
        return 0.5 * (d * d).sum()

    def delta(self, activation, z, a, y):
        return activation.backward(z, a, a - y)


def _softplus(xp, z):
    """ln(1 + e^z) without overflow."""
    return xp.maximum(z, 0) + xp.log1p(xp.exp(-xp.abs(z)))


class CrossEntropyCost(Cost):
    name = "cross-entropy"
    output_activations = ("sigmoid",)

    def fn(self, z, a, y):
        # −[y ln σ(z) + (1 − y) ln(1 − σ(z))] = softplus(z) − y z
        xp = get_array_module(z)
        return (_softplus(xp, z) - y * z).sum()

    def delta(self, activation, z, a, y):
        return a - y


class LogLikelihoodCost(Cost):
    name = "log-likelihood"
    output_activations = ("softmax",)

    def fn(self, z, a, y):
        # −ln a_y = log Σ_k e^{z_k} − z_y
        xp = get_array_module(z)
        m = z.max(axis=-1, keepdims=True)
        lse = xp.log(xp.exp(z - m).sum(axis=-1, keepdims=True)) + m
        return ((lse - z) * y).sum()

    def delta(self, activation, z, a, y):
        return a - y


COSTS = {cls.name: cls for cls in (QuadraticCost, CrossEntropyCost, LogLikelihoodCost)}


def get_cost(name: str | Cost) -> Cost:
    """The cost called ``name`` (quadratic, cross-entropy, log-likelihood)."""
    if isinstance(name, Cost):
        return name
    try:
        return COSTS[str(name).lower()]()
    except KeyError:
        raise ConfigError(f"unknown cost {name!r}: choose one of {', '.join(COSTS)}") from None
