"""The SGD update rule, L2/L1 decay and momentum, against the formulas written out."""

import numpy as np
import pytest

from gpunn.errors import ConfigError
from gpunn.layers import FullyConnected
from gpunn.network import Network
from gpunn.optim import SGD


def one_layer(rng):
    net = Network([FullyConnected(3, n_in=4)], input_shape=(4,), device="cpu", dtype="float64")
    layer = net.layers[0]
    layer.gw, layer.gb = rng.standard_normal((3, 4)), rng.standard_normal(3)
    return net, layer


@pytest.mark.parametrize("lmbda,l1", [(0.0, 0.0), (5.0, 0.0), (0.0, 2.0), (1.0, 1.0)])
def test_plain_update_matches_book(lmbda, l1, rng):
    net, layer = one_layer(rng)
    w0, b0 = layer.w.copy(), layer.b.copy()
    eta, m, n = 0.5, 10, 1000
    SGD(eta, lmbda, l1, n=n).step(net, m)
    expect_w = (1 - eta * lmbda / n) * w0 - eta * l1 / n * np.sign(w0) - eta / m * layer.gw
    np.testing.assert_allclose(layer.w, expect_w)
    np.testing.assert_allclose(layer.b, b0 - eta / m * layer.gb)  # biases are not regularised


def test_momentum_velocity_accumulates(rng):
    net, layer = one_layer(rng)
    w0 = layer.w.copy()
    opt = SGD(0.1, momentum=0.9)
    opt.step(net, 1)
    v1 = -0.1 * layer.gw
    opt.step(net, 1)
    v2 = 0.9 * v1 - 0.1 * layer.gw
    np.testing.assert_allclose(layer.w, w0 + v1 + v2)
    np.testing.assert_allclose(opt.velocities["layer0/w"], v2)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(eta=0),
        dict(eta=-1),
        dict(eta=float("nan")),
        dict(eta=1, lmbda=-1),
        dict(eta=1, momentum=1.0),
        dict(eta=1, l1=-0.1),
    ],
)
def test_out_of_range_hyper_parameters(kwargs):
    with pytest.raises(ConfigError):
        SGD(**kwargs)
