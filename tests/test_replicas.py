"""CPU data parallelism: a batch's backprop or evaluation split over threads gives the serial
results, and unsplit training keeps the convolutions on one core."""

import contextlib

import numpy as np
import pytest

from gpunn import replicas
from gpunn.functions.dropout import dropout_mask, mask_key
from gpunn.kernels import threads
from gpunn.layers import ConvPool, FullyConnected, Softmax
from gpunn.network import Network
from gpunn.presets import get_preset


def _net(dtype="float64"):
    """A small conv net with dropout on two layers; the softmax weights drawn, not zero, so
    that every layer gets a non-zero gradient."""
    net = Network(
        [
            ConvPool(4, kernel=3, pool=2, activation="relu"),
            FullyConnected(10, "relu", p_dropout=0.3),
            Softmax(3, p_dropout=0.2),
        ],
        cost="log-likelihood",
        input_shape=(1, 10, 10),
        device="cpu",
        dtype=dtype,
        seed=1,
    )
    out = net.layers[-1]
    out.w[...] = np.random.default_rng(5).standard_normal(out.w.shape)
    return net


def _batch(m, dtype=np.float64):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((m, 1, 10, 10)).astype(dtype)
    return x, np.eye(3, dtype=dtype)[rng.integers(0, 3, m)]


@pytest.fixture
def any_work_splits(monkeypatch):
    if threads._openblas() is None:
        pytest.skip("OpenBLAS not found: the split needs BLAS set to one thread")
    monkeypatch.setattr(replicas, "MIN_CONV_MACS", 0)
    monkeypatch.setattr(replicas, "CONV_MACS_PER_PARAM", 0)


@pytest.fixture
def split_into_three(any_work_splits, monkeypatch):
    monkeypatch.setattr(threads, "workers", lambda: 3)
    monkeypatch.setattr(threads, "_pool", None)


@pytest.fixture
def parts_seen(monkeypatch):
    """(rows, first_row of each layer, own layers?) of every backprop_layers call."""
    seen = []
    plain = Network.backprop_layers

    def spy(self, layers, x, y_onehot, step, seed):
        own = any(a is b for a, b in zip(layers, self.layers, strict=True))
        seen.append((len(x), [layer.first_row for layer in layers], own))
        return plain(self, layers, x, y_onehot, step, seed)

    monkeypatch.setattr(Network, "backprop_layers", spy)
    return seen


def test_split_backprop_gives_the_serial_gradients_and_dropout_masks(split_into_three, parts_seen):
    x, y = _batch(25)
    serial, split = _net(), _net()
    serial.backprop_layers(serial.layers, x, y, step=3, seed=1)
    parts_seen.clear()
    assert replicas.parts_for(split, 25) == 3
    split.backprop(x, y, step=3)
    assert sorted(parts_seen) == [(8, [0] * 3, False), (8, [8] * 3, False), (9, [16] * 3, False)]
    for a, b in zip(serial.layers, split.layers, strict=True):
        assert np.abs(a.gw).max() > 0
        np.testing.assert_allclose(b.gw, a.gw, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(b.gb, a.gb, rtol=1e-12, atol=1e-12)


def test_replicas_follow_replaced_parameters(split_into_three, parts_seen):
    """A load replaces w and b: the next split step must use the new arrays."""
    x, y = _batch(24)
    net = _net()
    net.backprop(x, y, step=0)
    fresh = _net()
    for layer in fresh.layers:
        layer.w *= 0.5
    net.load_state(fresh.state())
    net.backprop(x, y, step=0)
    assert len(parts_seen) == 6  # both steps split in three
    fresh.backprop_layers(fresh.layers, x, y, step=0, seed=1)
    for a, b in zip(fresh.layers, net.layers, strict=True):
        np.testing.assert_allclose(b.gw, a.gw, rtol=1e-12, atol=1e-12)


def test_gpunn_cpu_threads_1_keeps_the_batch_whole(any_work_splits, monkeypatch, parts_seen):
    monkeypatch.setenv("GPUNN_CPU_THREADS", "1")
    net = _net()
    assert replicas.parts_for(net, 25) == 1
    net.backprop(*_batch(25), step=0)
    assert parts_seen == [(25, [0] * 3, True)]


def test_who_splits():
    """Convolutional nets from a batch whose conv work pays for the hand-over; never fc30,
    never on the book's m = 10."""
    conv2, final, fc30 = (get_preset(n).network("cpu") for n in ("conv2-relu", "final", "fc30"))
    cores = threads.workers() if threads.can_split() else 1
    assert replicas.conv_macs(conv2.layers) == 20 * 25 * 24 * 24 + 40 * 20 * 25 * 8 * 8
    assert replicas.parts_for(conv2, 10) == 1 and replicas.parts_for(final, 10) == 1
    assert replicas.parts_for(conv2, 64) == min(cores, 8)
    assert replicas.parts_for(final, 32) == 1 and replicas.parts_for(final, 64) == min(cores, 8)
    assert replicas.parts_for(fc30, 4096) == 1


def test_dropout_rows_from_start_match_the_whole_batch():
    key = mask_key(2, 7, 1)
    whole = dropout_mask(np, (10, 6), np.float32, 0.4, key)
    part = dropout_mask(np, (4, 6), np.float32, 0.4, key, start=5 * 6)
    np.testing.assert_array_equal(part, whole[5:9])


def test_unsplit_training_keeps_conv_layers_on_one_core(monkeypatch):
    """An unsplit CPU backprop runs ConvPool's products with OpenBLAS at one thread and the
    fully-connected ones with BLAS's own count; inference leaves every layer alone."""
    controls = threads._openblas()
    if controls is None:
        pytest.skip("OpenBLAS not found: nothing to set to one thread")
    set_threads, get_threads = controls
    seen = []
    for cls in (ConvPool, FullyConnected):
        for name in ("forward", "backward"):
            plain = getattr(cls, name)

            def spy(self, *args, _plain=plain, _name=name, **kwargs):
                seen.append((type(self).__name__, _name, get_threads()))
                return _plain(self, *args, **kwargs)

            monkeypatch.setattr(cls, name, spy)
    saved = get_threads()
    set_threads(2)
    try:
        net = _net()
        net.backprop(*_batch(5), step=0)
        training = list(seen)
        seen.clear()
        net.feedforward(_batch(5)[0])
    finally:
        set_threads(saved)
    assert training == [
        ("ConvPool", "forward", 1),
        ("FullyConnected", "forward", 2),
        ("Softmax", "forward", 2),
        ("Softmax", "backward", 2),
        ("FullyConnected", "backward", 2),
        ("ConvPool", "backward", 1),
    ]
    assert [count for *_, count in seen] == [2, 2, 2]


def test_split_evaluation_gives_the_serial_outputs_and_cost(split_into_three, monkeypatch):
    net = _net()
    x, y_onehot = _batch(25)
    labels = y_onehot.argmax(axis=1)
    rows = []
    plain = Network.forward_layers

    def spy(layers, x, *args):
        rows.append(x.shape[0])
        return plain(layers, x, *args)

    monkeypatch.setattr(Network, "forward_layers", staticmethod(spy))
    z, a = net.output(x)
    fed = net.feedforward(x)
    correct, cost = net.evaluate(x, labels, cost=True)
    assert sorted(rows) == [8] * 6 + [9] * 3  # three calls, each in three parts
    monkeypatch.setattr(replicas, "parts_for", lambda *args, **kwargs: 1)
    z1, a1 = net.output(x)
    serial_correct, serial_cost = net.evaluate(x, labels, cost=True)
    np.testing.assert_allclose(z, z1, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(a, a1, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(fed, a)
    assert int(correct) == int(serial_correct)
    np.testing.assert_allclose(float(cost), float(serial_cost), rtol=1e-12)


def test_who_splits_evaluation():
    """A forward pass adds no gradients: only the convolution work counts (final at m = 32:
    50 M multiply-adds, enough to split, but under 40 per parameter)."""
    conv2, final, fc30 = (get_preset(n).network("cpu") for n in ("conv2-relu", "final", "fc30"))
    cores = threads.workers() if threads.can_split() else 1
    assert replicas.parts_for(conv2, 10, train=False) == 1
    assert replicas.parts_for(conv2, 26, train=False) == min(cores, 3)
    assert replicas.parts_for(final, 32) == 1
    assert replicas.parts_for(final, 32, train=False) == min(cores, 4)
    assert replicas.parts_for(fc30, 4096, train=False) == 1


def test_one_core_only_for_cpu_convolutions_in_training():
    conv, fc = ConvPool(4, kernel=3), FullyConnected(10)
    conv.w = fc.w = np.zeros((2, 2))
    assert isinstance(replicas.one_core(conv, True), type(threads.single_threaded_blas()))
    for layer, train in ((conv, False), (fc, True)):
        assert isinstance(replicas.one_core(layer, train), contextlib.nullcontext)
    conv.w = object()  # not a NumPy array: a GPU layer
    assert isinstance(replicas.one_core(conv, True), contextlib.nullcontext)
