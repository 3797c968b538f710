"""Backprop over whole mini-batches against finite differences, for each layer and cost."""

import numpy as np
import pytest

from gpunn.errors import ConfigError, DataError, ShapeError
from gpunn.layers import ConvPool, FullyConnected, Softmax
from gpunn.network import Network
from tests.gradcheck import assert_close, numerical_grad

N = 4


def total_cost(net, x, y1h, step):
    a = net.feedforward(x, train=True, step=step)
    out = net.layers[-1]
    return float(net.cost.fn(out.z, a, y1h)) / len(x)


def check_network(net, x, labels, step=7):
    y1h = np.eye(net.n_outputs)[labels]
    net.backprop(x, y1h, step=step)
    analytic = [(layer.gw / len(x), layer.gb / len(x)) for layer in net.layers]
    for layer, (gw, gb) in zip(net.layers, analytic, strict=True):
        for param, g in ((layer.w, gw), (layer.b, gb)):
            numeric = numerical_grad(lambda: total_cost(net, x, y1h, step), param)
            assert_close(g, numeric)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "linear"])
@pytest.mark.parametrize("cost", ["quadratic", "cross-entropy"])
def test_fully_connected_gradients(activation, cost, rng):
    out_act = "sigmoid" if cost == "cross-entropy" else activation
    layers = [FullyConnected(5, activation), FullyConnected(3, out_act)]
    net = Network(layers, cost, input_shape=(6,), device="cpu", dtype="float64", seed=1)
    x = rng.random((N, 6)) + 0.1  # away from ReLU's kink at 0
    check_network(net, x, rng.integers(0, 3, N))


def test_softmax_with_dropout_held_fixed(rng):
    layers = [FullyConnected(8, "tanh", p_dropout=0.3), Softmax(4, p_dropout=0.5, init="default")]
    net = Network(layers, "log-likelihood", input_shape=(6,), device="cpu", dtype="float64")
    check_network(net, rng.random((N, 6)), rng.integers(0, 4, N))


@pytest.mark.parametrize("pooling", ["max", "mean", "l2"])
def test_convpool_gradients(pooling, rng):
    layers = [
        ConvPool(3, kernel=3, pool=2, activation="tanh", pooling=pooling),
        FullyConnected(5, "sigmoid", p_dropout=0.2),
        Softmax(3, init="default"),
    ]
    net = Network(layers, "log-likelihood", input_shape=(2, 7, 7), device="cpu", dtype="float64")
    x = rng.permutation(N * 2 * 49).reshape(N, 2, 7, 7) / (N * 98)  # distinct values: stable max
    check_network(net, x, rng.integers(0, 3, N))


def test_input_error_reaches_first_layer(rng):
    """∂C/∂x of the first layer (not used by training, but by the gradient study) is right."""
    net = Network(
        [FullyConnected(4, "tanh"), FullyConnected(2, "sigmoid")],
        "quadratic",
        input_shape=(3,),
        device="cpu",
        dtype="float64",
    )
    x, y1h = rng.random((N, 3)), np.eye(2)[rng.integers(0, 2, N)]
    net.backprop(x, y1h)
    first = net.layers[0]
    ga = net.layers[1].backward(
        net.cost.delta(net.layers[1].activation, net.layers[1].z, net.layers[1].a, y1h)
    )
    gx = first.backward(first.activation.backward(first.z, first.a, ga))
    assert_close(gx, numerical_grad(lambda: total_cost(net, x, y1h, 0) * N, x))


def test_shapes_that_do_not_fit_name_the_layer():
    with pytest.raises(ShapeError, match=r"ConvPool.*\(1, 5, 5\)"):
        Network(
            [ConvPool(4, kernel=5, pool=2), Softmax(10)],
            "log-likelihood",
            input_shape=(1, 5, 5),
            device="cpu",
        )
    with pytest.raises(ShapeError, match="needs \\(channels, height, width\\)"):
        Network([ConvPool(4), Softmax(10)], "log-likelihood", input_shape=(784,), device="cpu")
    with pytest.raises(ShapeError, match="expects 100 inputs"):
        Network([FullyConnected(10, n_in=100)], "quadratic", input_shape=(784,), device="cpu")


def test_cost_and_output_layer_must_agree():
    with pytest.raises(ConfigError, match="log-likelihood cost needs a softmax"):
        Network([FullyConnected(10)], "log-likelihood", device="cpu")
    with pytest.raises(ConfigError, match="cross-entropy cost needs a sigmoid"):
        Network([Softmax(10)], "cross-entropy", device="cpu")


@pytest.mark.parametrize(
    "bad",
    [
        dict(n_out=0),
        dict(n_out=3, p_dropout=1.0),
        dict(n_out=3, activation="swish"),
        dict(n_out=3, init="xavier"),
    ],
)
def test_bad_layer_arguments(bad):
    with pytest.raises(ConfigError):
        FullyConnected(**bad)


def test_same_seed_same_network_different_seed_different():
    def make(seed):
        return Network(
            [FullyConnected(5), FullyConnected(2)], input_shape=(3,), device="cpu", seed=seed
        ).state()

    a, b, c = make(3), make(3), make(4)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["layer0/w"], c["layer0/w"])


def test_dropout_scales_weights_at_evaluation(rng):
    """network3: a mask of keep-rate 1 − p in training, (1 − p)·w at evaluation."""
    p = 0.25
    net = Network(
        [FullyConnected(3, "linear", p_dropout=p)],
        "quadratic",
        input_shape=(2000,),
        device="cpu",
        dtype="float64",
    )
    layer, x = net.layers[0], rng.random((5, 2000))
    np.testing.assert_allclose(net.feedforward(x), (1 - p) * x @ layer.w.T + layer.b)
    net.feedforward(x, train=True, step=3)
    assert abs(layer.mask.mean() - (1 - p)) < 0.01
    np.testing.assert_allclose(layer.z, (x * layer.mask) @ layer.w.T + layer.b)
    first = layer.mask.copy()
    net.feedforward(x, train=True, step=3)
    np.testing.assert_array_equal(layer.mask, first)  # the same step gives the same mask
    net.feedforward(x, train=True, step=4)
    assert not np.array_equal(layer.mask, first)


def test_a_layer_object_serves_one_network_only():
    layer, out = FullyConnected(5, "relu"), Softmax(10)
    Network([layer, out], "log-likelihood", input_shape=(6,), device="cpu")
    with pytest.raises(ConfigError, match=r"layer 0 \(FullyConnected\) is already part of a"):
        Network([layer, Softmax(10)], "log-likelihood", input_shape=(6,), device="cpu")
    twice = Softmax(10)
    with pytest.raises(ConfigError, match="layer 2 .* is already part of a network"):
        Network([FullyConnected(10), twice, twice], "log-likelihood", input_shape=(6,))
    with pytest.raises(ConfigError, match="layer 0 is a int, not a gpunn layer"):
        Network([30, 10])


def test_predict_and_evaluate_refuse_nan_raw_bytes_and_bad_batch_sizes():
    net = Network([Softmax(10)], "log-likelihood", input_shape=(6,), device="cpu")
    x, y = np.full((4, 6), 0.5, np.float32), np.arange(4)
    for bad in (0, -1, 1.5, None, "10", True):
        with pytest.raises(ConfigError, match="batch_size must be a positive integer"):
            net.evaluate(x, y, batch_size=bad)
        with pytest.raises(ConfigError, match="batch_size must be a positive integer"):
            net.predict(x, batch_size=bad)
    x[2, 3] = np.nan
    with pytest.raises(DataError, match="images hold NaN or infinite values"):
        net.predict(x)
    with pytest.raises(DataError, match="integers from 255 to 255: give pixels as floats"):
        net.evaluate(np.full((4, 6), 255, np.uint8), y)
    assert net.predict(np.ones((4, 6), np.uint8)).shape == (4,)  # 0/1 integers are pixels


@pytest.mark.parametrize("p", [None, "x", "0.5", 0.5 + 0j, True])
def test_a_dropout_probability_must_be_a_number(p):
    with pytest.raises(ConfigError, match="dropout probability must be in"):
        FullyConnected(10, p_dropout=p)
    with pytest.raises(ConfigError, match="unknown init"):
        FullyConnected(10, init=[])


@pytest.mark.parametrize("shape", [784, None, ("a",), "784", (784.7,), (), (0,)])
def test_input_shape_must_be_positive_integers(shape):
    with pytest.raises(ShapeError, match="input_shape must be a tuple of positive integers"):
        Network([Softmax(10)], "log-likelihood", input_shape=shape)


@pytest.mark.parametrize("seed", [-1, None, 1.7, "3", True])
def test_a_seed_must_be_a_non_negative_integer(seed):
    with pytest.raises(ConfigError, match="seed must be a non-negative integer"):
        Network([Softmax(10)], "log-likelihood", input_shape=(6,), seed=seed)


def test_a_network_that_fails_to_build_leaves_its_layers_free():
    conv = ConvPool(2, 3, 2)
    with pytest.raises(ShapeError, match="the last layer must give a vector"):
        Network([conv], input_shape=(1, 8, 8), device="cpu")
    net = Network(iter([conv, Softmax(10)]), "log-likelihood", input_shape=(1, 8, 8))
    assert net.layers[0] is conv  # a generator of layers is fine too


def test_integer_pixels_must_be_0_or_1():
    net = Network([Softmax(10)], "log-likelihood", input_shape=(6,), device="cpu")
    with pytest.raises(DataError, match="integers from -1 to 1"):
        net.predict(np.array([[0, 1, -1, 0, 0, 0]]))
