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


@pytest.mark.parametrize("momentum, beta", [(0.0, 0.0), (0.9, 0.0), (0.0, 0.8), (0.9, 0.8)])
def test_the_cpu_update_takes_any_memory_layout(rng, momentum, beta):
    """Transposed and strided w, v, a and g update element for element like contiguous ones."""
    f32 = np.float32
    w, v, g, a = (rng.standard_normal((4, 6)).astype(f32) for _ in range(4))
    args = tuple(f32(x) for x in (0.1, 0.5, 0.01, 0.02, momentum, beta, 1 - beta))
    w_c, v_c, a_c = w.copy(), v.copy(), a.copy()
    _cpu_update(g, *args, w_c, v_c, a_c)
    w_t, v_t, a_t = (np.asfortranarray(x) for x in (w, v, a))
    _cpu_update(np.ascontiguousarray(g.T).T, *args, w_t, v_t, a_t)
    wide = np.zeros((4, 12), f32)
    w_s = wide[:, ::2]
    w_s[...] = w
    _cpu_update(g, *args, w_s, v.copy(), a.copy())
    np.testing.assert_array_equal(w_t, w_c)
    np.testing.assert_array_equal(w_s, w_c)
    np.testing.assert_array_equal(v_t, v_c if momentum else v)
    np.testing.assert_array_equal(a_t, a_c if beta else a)
    assert not wide[:, 1::2].any()


def conv_net(dtype="float64"):
    return Network(
        [ConvPool(2, kernel=3), FullyConnected(3)], input_shape=(1, 6, 6), device="cpu", dtype=dtype
    )


def random_grads(net, rng):
    for layer in net.layers:
        layer.gw = rng.standard_normal(layer.w.shape).astype(net.dtype)
        layer.gb = rng.standard_normal(layer.b.shape).astype(net.dtype)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_the_average_follows_the_weights_by_beta(rng, momentum):
    """a starts at the weights before the first step, then a ← β a + (1 − β) w after each;
    the weights move exactly as without an average."""
    net, twin = conv_net(), conv_net()
    beta = 0.75
    opt, plain = (
        SGD(0.5, 1.0, momentum=momentum, n=100, ema=beta),
        SGD(0.5, 1.0, momentum=momentum, n=100),
    )
    expect = {k: p.copy() for k, p in net.named_params()}
    for _ in range(3):
        random_grads(net, rng)
        for a, b in zip(net.layers, twin.layers, strict=True):
            b.gw, b.gb = a.gw, a.gb
        opt.step(net, 10)
        plain.step(twin, 10)
        for k, p in net.named_params():
            expect[k] = beta * expect[k] + (1 - beta) * p
    for (k, p), (_, q) in zip(net.named_params(), twin.named_params(), strict=True):
        np.testing.assert_array_equal(p, q, err_msg=k)
        np.testing.assert_allclose(opt.averages[k], expect[k], rtol=1e-13, err_msg=k)
    assert not plain.averages


def test_averaged_swaps_the_averages_in_and_back_in_place(rng):
    net = conv_net()
    opt = SGD(0.5, ema=0.5)
    random_grads(net, rng)
    opt.step(net, 10)
    arrays = [p for _, p in net.named_params()]
    trained = {k: p.copy() for k, p in net.named_params()}
    averages = {k: a.copy() for k, a in opt.averages.items()}
    with opt.averaged(net):
        for k, p in net.named_params():
            np.testing.assert_array_equal(p, averages[k])
            np.testing.assert_array_equal(opt.averages[k], trained[k])
    assert [p for _, p in net.named_params()] == arrays  # the same arrays throughout
    for k, p in net.named_params():
        np.testing.assert_array_equal(p, trained[k])
        np.testing.assert_array_equal(opt.averages[k], averages[k])
    opt.keep_averages(net)
    for k, p in net.named_params():
        np.testing.assert_array_equal(p, averages[k])


def test_state_holds_velocities_and_averages_and_loads_back(rng):
    from gpunn.backend import get_device

    net = conv_net()
    opt = SGD(0.5, momentum=0.9, ema=0.5)
    random_grads(net, rng)
    opt.step(net, 10)
    state = opt.state()
    assert {k.split("/")[0] for k in state} == {"velocity", "average"}
    again = SGD(0.5, momentum=0.9, ema=0.5)
    again.load_state(state, get_device("cpu"), net.dtype)
    for name, v in opt.velocities.items():
        np.testing.assert_array_equal(again.velocities[name], v)
    for name, a in opt.averages.items():
        np.testing.assert_array_equal(again.averages[name], a)
    with pytest.raises(ValueError, match="not an optimizer buffer"):
        again.load_state(
            {"momentum/layer0/w": state["velocity/layer0/w"]}, get_device("cpu"), net.dtype
        )


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(eta=0),
        dict(eta=-1),
        dict(eta=float("nan")),
        dict(eta=1, lmbda=-1),
        dict(eta=1, momentum=1.0),
        dict(eta=1, l1=-0.1),
        dict(eta=1, ema=1.0),
        dict(eta=1, ema=-0.5),
        dict(eta=1, ema=float("inf")),
        dict(eta="3"),
        dict(eta=None),
        dict(eta=1 + 0j),
        dict(eta=1, lmbda="0.1"),
        dict(eta=1, momentum=True),
    ],
)
def test_out_of_range_hyper_parameters(kwargs):
    with pytest.raises(ConfigError):
        SGD(**kwargs)
