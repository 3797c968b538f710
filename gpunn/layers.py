"""The layers of a network: ``FullyConnected``, ``Softmax`` and ``ConvPool``.

Each layer holds its parameters (``w``, ``b``), computes a = σ(z) forward, and
backward turns δ = ∂C/∂z (per example, shape of z) into the sums over the batch
∂C/∂w, ∂C/∂b (``gw``, ``gb``) and the error passed down, ∂C/∂x. Dropout follows the
book's network3: a layer drops its *inputs* with probability ``p_dropout`` while
training, and scales its weighted input by (1 − p) at evaluation.
"""

from __future__ import annotations

import math

import numpy as np

from gpunn.errors import ConfigError, ShapeError
from gpunn.functions.activations import get_activation
from gpunn.functions.dropout import StepKey, dropout_forward
from gpunn.functions.linear import matmul
from gpunn.init import check_init, init_params
from gpunn.values import check_positive_integer, is_real


def _check_positive(layer: str, **values: int) -> None:
    for name, v in values.items():
        check_positive_integer(name, v, where=layer)


def _check_dropout(layer: str, p: float) -> float:
    if not is_real(p) or not 0.0 <= float(p) < 1.0:
        raise ConfigError(f"{layer}: dropout probability must be in [0, 1), got {p!r}")
    return float(p)


class Layer:
    """Base class: parameters, a cache for backward, and a config for saving."""

    kind = ""
    first_row = 0  # which row of the mini-batch this layer's batch starts at (gpunn.replicas)

    def __init__(self, activation: str, p_dropout: float, init: str) -> None:
        self.activation = get_activation(activation)
        self.p_dropout = _check_dropout(self.kind, p_dropout)
        self.init = check_init(init)
        self.in_shape: tuple[int, ...] = ()
        self.out_shape: tuple[int, ...] = ()
        self.w = self.b = None
        self.gw = self.gb = None

    def params(self) -> dict:
        return {"w": self.w, "b": self.b}

    def set_params(self, params: dict) -> None:
        self.w, self.b = params["w"], params["b"]

    def grads(self) -> dict:
        return {"w": self.gw, "b": self.gb}

    def config(self) -> dict:
        raise NotImplementedError

    def describe(self) -> str:
        drop = f", dropout {self.p_dropout:g}" if self.p_dropout else ""
        return f"{self.kind}{self.in_shape}→{self.out_shape} {self.activation}{drop}"

    def _drop(self, x, train: bool, key: int | StepKey):
        """x with its inputs dropped (training, p > 0), and the mask (or None)."""
        if train and self.p_dropout > 0.0:
            return dropout_forward(x, self.p_dropout, key, self.first_row)
        return x, None


class FullyConnected(Layer):
    """z = x wᵀ + b with w of shape (n_out, n_in) as in the book; x (N, n_in) → a (N, n_out)."""

    kind = "FullyConnected"

    def __init__(
        self,
        n_out: int,
        activation: str = "sigmoid",
        p_dropout: float = 0.0,
        init: str = "default",
        n_in: int | None = None,
    ) -> None:
        _check_positive(self.kind, n_out=n_out)
        if n_in is not None:
            _check_positive(self.kind, n_in=n_in)
        super().__init__(activation, p_dropout, init)
        self.n_out, self.n_in = int(n_out), n_in

    def build(self, in_shape: tuple[int, ...], rng: np.random.Generator):
        """Fix the input shape, draw (w, b) as float64 NumPy arrays; returns the output shape."""
        n_in = math.prod(in_shape)
        if self.n_in is not None and self.n_in != n_in:
            raise ShapeError(
                f"{self.kind}({self.n_in}→{self.n_out}) expects {self.n_in} inputs, "
                f"but the layer before gives shape {in_shape} ({n_in} values)"
            )
        self.n_in, self.in_shape, self.out_shape = n_in, tuple(in_shape), (self.n_out,)
        return init_params(self.init, (self.n_out, n_in), n_in, self.n_out, rng)

    def config(self) -> dict:
        return {
            "kind": self.kind,
            "n_out": self.n_out,
            "activation": self.activation.name,
            "p_dropout": self.p_dropout,
            "init": self.init,
        }

    def forward(self, x, train: bool = False, key: int | StepKey = 0):
        x = x.reshape(x.shape[0], self.n_in)
        x, self.mask = self._drop(x, train, key)
        z = matmul(x, self.w, trans_b=True)
        if not train and self.p_dropout:
            z *= 1.0 - self.p_dropout
        z += self.b
        self.x, self.z = x, z
        self.a = self.activation.forward(z)
        return self.a

    def backward(self, delta, need_gx: bool = True):
        """δ (N, n_out) → gw = δᵀx, gb = Σδ (sums over the batch); returns ∂C/∂x or None."""
        self.gw = matmul(delta, self.x, trans_a=True)
        self.gb = delta.sum(axis=0)
        if not need_gx:
            return None
        gx = matmul(delta, self.w)
        if self.mask is not None:
            gx *= self.mask
        return gx


class Softmax(FullyConnected):
    """A softmax output layer (weights start at zero, as in network3)."""

    kind = "Softmax"

    def __init__(
        self, n_out: int, p_dropout: float = 0.0, init: str = "zeros", n_in: int | None = None
    ) -> None:
        super().__init__(n_out, "softmax", p_dropout, init, n_in)

    def config(self) -> dict:
        cfg = super().config()
        del cfg["activation"]
        return cfg


class ConvPool(Layer):
    """Convolution (n_filters of k×k, valid by default), then p×p pooling, then + b, then σ.

    x (N, C, H, W) → conv (N, F, OH, OW) → pool (N, F, OH//p, OW//p) = z − b → a.
    """

    kind = "ConvPool"
    POOLINGS = ("max", "mean", "l2")

    def __init__(
        self,
        n_filters: int,
        kernel: int = 5,
        pool: int = 2,
        activation: str = "sigmoid",
        pooling: str = "max",
        stride: int = 1,
        pad: int = 0,
        init: str = "network3",
    ) -> None:
        _check_positive(self.kind, n_filters=n_filters, kernel=kernel, pool=pool, stride=stride)
        if not isinstance(pad, (int, np.integer)) or pad < 0:
            raise ConfigError(f"{self.kind}: pad must be a non-negative integer, got {pad!r}")
        if pooling not in self.POOLINGS:
            raise ConfigError(
                f"{self.kind}: unknown pooling {pooling!r}: "
                f"choose one of {', '.join(self.POOLINGS)}"
            )
        super().__init__(activation, 0.0, init)
        self.n_filters, self.kernel, self.pool = int(n_filters), int(kernel), int(pool)
        self.pooling, self.stride, self.pad = pooling, int(stride), int(pad)

    def build(self, in_shape: tuple[int, ...], rng: np.random.Generator):
        if len(in_shape) != 3:
            raise ShapeError(
                f"{self.kind}({self.n_filters} filters {self.kernel}×{self.kernel}) needs "
                f"(channels, height, width) input, but the layer before gives shape {in_shape}"
            )
        c, h, w = in_shape
        oh = (h + 2 * self.pad - self.kernel) // self.stride + 1
        ow = (w + 2 * self.pad - self.kernel) // self.stride + 1
        if oh < self.pool or ow < self.pool:
            raise ShapeError(
                f"{self.kind}({self.n_filters} filters {self.kernel}×{self.kernel}, pool "
                f"{self.pool}×{self.pool}) does not fit input shape {tuple(in_shape)}: "
                f"the convolution gives {max(oh, 0)}×{max(ow, 0)}"
            )
        self.in_shape = tuple(in_shape)
        self.out_shape = (self.n_filters, oh // self.pool, ow // self.pool)
        n_in = c * self.kernel * self.kernel
        n_out = self.n_filters * self.kernel * self.kernel / (self.pool * self.pool)
        w_shape = (self.n_filters, c, self.kernel, self.kernel)
        return init_params(self.init, w_shape, n_in, n_out, rng)

    def config(self) -> dict:
        return {
            "kind": self.kind,
            "n_filters": self.n_filters,
            "kernel": self.kernel,
            "pool": self.pool,
            "activation": self.activation.name,
            "pooling": self.pooling,
            "stride": self.stride,
            "pad": self.pad,
            "init": self.init,
        }

    def forward(self, x, train: bool = False, key: int | StepKey = 0):
        from gpunn.functions.conv import conv_forward
        from gpunn.functions.pool import pool_forward

        x = x.reshape((x.shape[0],) + self.in_shape)
        c = conv_forward(x, self.w, self.stride, self.pad)
        if self.pool > 1:
            y, self.argmax = pool_forward(c, self.pool, self.pooling)
        else:
            y, self.argmax = c, None
        z = y + self.b.reshape(1, -1, 1, 1)
        self.x, self.c, self.y, self.z = x, c, y, z
        self.a = self.activation.forward(z)
        return self.a

    def backward(self, delta, need_gx: bool = True):
        """δ (N, F, PH, PW) → gb = Σδ, gw via the pooled error's upsampling; returns ∂C/∂x."""
        from gpunn.functions.conv import conv_backward
        from gpunn.functions.pool import pool_backward

        self.gb = delta.sum(axis=(0, 2, 3))
        gc = delta
        if self.pool > 1:
            gc = pool_backward(delta, self.c, self.y, self.argmax, self.pool, self.pooling)
        gx, self.gw = conv_backward(gc, self.x, self.w, self.stride, self.pad, need_gx=need_gx)
        return gx


LAYER_KINDS = {cls.kind: cls for cls in (FullyConnected, Softmax, ConvPool)}


def layer_from_config(cfg: dict) -> Layer:
    """Rebuild an (unbuilt) layer from ``Layer.config()``."""
    cfg = dict(cfg)
    kind = cfg.pop("kind", None)
    if kind not in LAYER_KINDS:
        raise ShapeError(f"unknown layer kind {kind!r}")
    return LAYER_KINDS[kind](**cfg)
