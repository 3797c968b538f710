"""The SGD update rule, L2/L1 decay and momentum, against the formulas written out."""

import numpy as np
import pytest

from gpunn.errors import ConfigError
from gpunn.layers import ConvPool, FullyConnected
from gpunn.network import Network
from gpunn.optim import SGD, _cpu_update


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


def sgd_formula(w, v, g, m, eta, l2, l1, mu):
    """The update written plainly, in float64: (w, v) after one step."""
    w, v, g = (np.asarray(a, np.float64) for a in (w, v, g))
    gt = g / m + l2 * w + l1 * np.sign(w)
    v = mu * v - eta * gt
    return w + v, v


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("lmbda,l1,momentum", [(0, 0, 0), (5, 0, 0), (0, 2, 0), (5, 1, 0.9)])
def test_a_conv_net_steps_as_the_formula(rng, dtype, lmbda, l1, momentum):
    """Three CPU steps (the fused one-pass update) of a conv net's 4-D, 2-D and 1-D params."""
    net = Network(
        [ConvPool(2, kernel=3), FullyConnected(3)], input_shape=(1, 6, 6), device="cpu", dtype=dtype
    )
    eta, m, n = 0.5, 10, 100
    opt = SGD(eta, lmbda, l1, momentum, n=n)
    expect = {k: (p.astype(np.float64), 0.0) for k, p in net.named_params()}
    for _ in range(3):
        for layer in net.layers:
            layer.gw = rng.standard_normal(layer.w.shape).astype(dtype)
            layer.gb = rng.standard_normal(layer.b.shape).astype(dtype)
        grads = {
            f"layer{i}/{k}": g
            for i, layer in enumerate(net.layers)
            for k, g in layer.grads().items()
        }
        for k, (w, v) in expect.items():
            decay = (lmbda / n, l1 / n) if k.endswith("/w") else (0, 0)
            expect[k] = sgd_formula(w, v, grads[k], m, eta, *decay, momentum)
        opt.step(net, m)
    tol = 1e-6 if dtype == "float32" else 1e-13
    for k, p in net.named_params():
        assert p.dtype == dtype
        np.testing.assert_allclose(p, expect[k][0], rtol=tol, atol=tol, err_msg=k)
        if momentum:
            np.testing.assert_allclose(opt.velocities[k], expect[k][1], rtol=tol, atol=tol)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_the_cpu_update_takes_any_memory_layout(rng, momentum):
    """Transposed and strided w, v and g update element for element like contiguous ones."""
    f32 = np.float32
    w, v, g = (rng.standard_normal((4, 6)).astype(f32) for _ in range(3))
    args = tuple(f32(a) for a in (0.1, 0.5, 0.01, 0.02, momentum))
    w_c, v_c = w.copy(), v.copy()
    _cpu_update(g, *args, w_c, v_c)
    w_t, v_t = np.asfortranarray(w), np.asfortranarray(v)
    _cpu_update(np.ascontiguousarray(g.T).T, *args, w_t, v_t)
    wide = np.zeros((4, 12), f32)
    w_s = wide[:, ::2]
    w_s[...] = w
    _cpu_update(g, *args, w_s, v.copy())
    np.testing.assert_array_equal(w_t, w_c)
    np.testing.assert_array_equal(w_s, w_c)
    np.testing.assert_array_equal(v_t, v_c if momentum else v)
    assert not wide[:, 1::2].any()


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
