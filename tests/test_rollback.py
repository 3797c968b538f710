"""gpunn.rollback: the snapshot the NaN guard goes back to, and the checks that call for it."""

import numpy as np

from gpunn.layers import FullyConnected, Softmax
from gpunn.network import Network
from gpunn.optim import SGD
from gpunn.rollback import grads_finite, non_finite_layers, restore, take_snapshot
from tests.synthetic import blobs


def trained_one_step(momentum=0.9, ema=0.99):
    """A small net and its optimizer after one step, so that velocities and averages exist."""
    net = Network([FullyConnected(12, "relu"), Softmax(10)], "log-likelihood", device="cpu")
    data = blobs(n_train=20)
    opt = SGD(0.1, momentum=momentum, ema=ema, n=20)
    net.backprop(data.train.x[:10], np.eye(10, dtype=np.float32)[data.train.y[:10]])
    opt.step(net, 10)
    return net, opt, data


def state(net, opt):
    return (
        [{k: v.copy() for k, v in layer.params().items()} for layer in net.layers],
        {k: v.copy() for k, v in opt.velocities.items()},
        {k: v.copy() for k, v in opt.averages.items()},
    )


def assert_same(a, b):
    for x, y in zip(a[0], b[0], strict=True):
        assert x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)
    for da, db in zip(a[1:], b[1:], strict=True):
        assert da.keys() == db.keys() and da and all(np.array_equal(da[k], db[k]) for k in da)


def test_a_snapshot_is_a_copy_that_later_steps_do_not_touch_and_restore_puts_back():
    net, opt, data = trained_one_step()
    before = state(net, opt)
    snap = take_snapshot(net, opt, batch=7, step=42)
    net.backprop(data.train.x[10:20], np.eye(10, dtype=np.float32)[data.train.y[10:20]])
    opt.step(net, 10)
    net.layers[0].w[...] = np.nan  # as an exploding step leaves it
    assert non_finite_layers(net) == [0]
    assert restore(net, opt, snap) == (7, 42)
    assert_same(state(net, opt), before)
    assert non_finite_layers(net) == []


def test_the_finite_checks_name_each_bad_layer_and_any_bad_gradient():
    net, _, _ = trained_one_step()
    assert grads_finite(net)
    net.layers[1].b[0] = np.inf
    net.layers[0].w[3, 2] = -np.inf
    assert non_finite_layers(net) == [0, 1]
    net.layers[1].gw[0, 0] = np.nan
    assert not grads_finite(net)
