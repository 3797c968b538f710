"""Test-time shifts: the five views and the averaged outputs."""

import numpy as np

from gpunn.ensemble import Ensemble
from gpunn.layers import ConvPool, FullyConnected, Softmax
from gpunn.network import Network
from gpunn.tta import VIEWS, shifted_probabilities, shifted_views


def test_views_are_the_image_and_its_one_pixel_shifts(rng):
    x = rng.random((2, 784), dtype=np.float32)
    views = shifted_views(x, (784,))
    assert views.shape == (VIEWS, 2, 784)
    img = x.reshape(2, 28, 28)
    up, down, left, right = (v.reshape(2, 28, 28) for v in views[1:])
    np.testing.assert_array_equal(views[0], x)
    np.testing.assert_array_equal(up[:, :-1], img[:, 1:])
    np.testing.assert_array_equal(down[:, 1:], img[:, :-1])
    np.testing.assert_array_equal(left[:, :, :-1], img[:, :, 1:])
    np.testing.assert_array_equal(right[:, :, 1:], img[:, :, :-1])
    assert not up[:, -1].any() and not down[:, 0].any()
    assert not left[:, :, -1].any() and not right[:, :, 0].any()
    assert shifted_views(x.reshape(2, 1, 28, 28), (1, 28, 28)).shape == (VIEWS, 2, 1, 28, 28)


def test_probabilities_are_the_mean_over_the_views(rng):
    net = Network(
        [ConvPool(3, kernel=5, pool=2, activation="relu"), FullyConnected(12), Softmax(10)],
        "log-likelihood", input_shape=(1, 28, 28), device="cpu", seed=2,
    )  # fmt: skip
    for layer in net.layers:  # the softmax starts at zero: give it something to say
        layer.w += 0.3 * rng.standard_normal(layer.w.shape).astype(np.float32)
    x = rng.random((7, 784), dtype=np.float32)
    expected = np.mean([net.predict_proba(v) for v in shifted_views(x, net.input_shape)], axis=0)
    got = shifted_probabilities(net, x, batch_size=3)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    np.testing.assert_allclose(got.sum(axis=1), 1, rtol=1e-5)
    assert not np.allclose(got, net.predict_proba(x))  # the shifts do change the answer
    ensemble = Ensemble([net, net])
    ensemble.test_shifts = True
    np.testing.assert_allclose(ensemble.member_probabilities(x)[1], expected, rtol=1e-6)
