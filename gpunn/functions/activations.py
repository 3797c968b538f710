"""Neuron activations a = σ(z) and their backward pass ∂C/∂z = ∂C/∂a ⊙ σ'(z).

Each activation is a stateless object with ``forward(z)`` and ``backward(z, a, ga)``;
``backward`` uses whichever of z or a gives σ' most cheaply (σ' = a(1 − a) for the
sigmoid, 1 − a² for tanh). All work on NumPy and CuPy arrays alike.
"""

from __future__ import annotations

from gpunn.backend import get_array_module
from gpunn.errors import ConfigError


class Activation:
    name = ""

    def forward(self, z):
        raise NotImplementedError

    def backward(self, z, a, ga):
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


class Sigmoid(Activation):
    """σ(z) = 1 / (1 + e^−z), computed as ½(1 + tanh(z/2)) so it never overflows."""

    name = "sigmoid"

    def forward(self, z):
        xp = get_array_module(z)
        a = xp.tanh(z * 0.5)
        a += 1.0
        a *= 0.5
        return a

    def backward(self, z, a, ga):
        return ga * a * (1.0 - a)


class Tanh(Activation):
    name = "tanh"

    def forward(self, z):
        return get_array_module(z).tanh(z)

    def backward(self, z, a, ga):
        return ga * (1.0 - a * a)


class ReLU(Activation):
    """max(0, z); σ'(z) is taken as 0 at z = 0."""

    name = "relu"

    def forward(self, z):
        return get_array_module(z).maximum(z, 0)

    def backward(self, z, a, ga):
        return ga * (z > 0)


class Linear(Activation):
    name = "linear"

    def forward(self, z):
        return z

    def backward(self, z, a, ga):
        return ga


class Softmax(Activation):
    """a_j = e^{z_j} / Σ_k e^{z_k} over the last axis, shifted by max z for stability.

    Its Jacobian is not diagonal; with the log-likelihood cost the output δ is simply
    a − y, which is what the cost computes, so ``backward`` is only defined there.
    """

    name = "softmax"

    def forward(self, z):
        xp = get_array_module(z)
        e = xp.exp(z - z.max(axis=-1, keepdims=True))
        e /= e.sum(axis=-1, keepdims=True)
        return e

    def backward(self, z, a, ga):
        # δ_j = a_j (g_j − Σ_k g_k a_k)
        return a * (ga - (ga * a).sum(axis=-1, keepdims=True))


ACTIVATIONS = {cls.name: cls for cls in (Sigmoid, Tanh, ReLU, Linear, Softmax)}


def get_activation(name: str | Activation) -> Activation:
    """The activation called ``name`` (sigmoid, tanh, relu, linear, softmax)."""
    if isinstance(name, Activation):
        return name
    try:
        return ACTIVATIONS[str(name).lower()]()
    except KeyError:
        choices = ", ".join(ACTIVATIONS)
        raise ConfigError(f"unknown activation {name!r}: choose one of {choices}") from None
