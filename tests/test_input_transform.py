"""A network's input transform (``deskew``): applied once wherever images come in, kept in
its files, never twice."""

import numpy as np
import pytest

from gpunn.config import TrainConfig
from gpunn.data.deskew import deskew
from gpunn.ensemble import Ensemble
from gpunn.errors import ConfigError
from gpunn.layers import ConvPool, FullyConnected, Softmax
from gpunn.network import Network
from gpunn.serialize import load_model
from gpunn.train import Trainer
from gpunn.tta import shifted_probabilities, shifted_views
from tests.synthetic import blobs


def conv_net(transform=None, seed=3):
    # Softmax weights drawn, not zero: the outputs must depend on the images
    layers = [ConvPool(4, kernel=5, pool=2, activation="relu"), FullyConnected(16)]
    layers.append(Softmax(10, init="default"))
    return Network(
        layers,
        "log-likelihood",
        input_shape=(1, 28, 28),
        device="cpu",
        seed=seed,
        input_transform=transform,
    )


def test_predict_and_evaluate_deskew_the_images_once(rng):
    x = rng.random((30, 784), dtype=np.float32) * (rng.random((30, 784)) < 0.2)
    y = rng.integers(0, 10, 30)
    deskewing, plain = conv_net("deskew"), conv_net()  # the same weights (same seed)
    straight = deskew(x, (784,))
    np.testing.assert_array_equal(deskewing.predict_proba(x), plain.predict_proba(straight))
    correct, cost = deskewing.evaluate(x, y, cost=True)
    assert (correct, cost) == plain.evaluate(straight, y, cost=True)
    assert (correct, cost) == deskewing.evaluate(straight, y, cost=True, prepared=True)
    assert deskewing.prepare(x).shape == x.shape and plain.prepare(x) is x
    assert "deskewed" in deskewing.describe() and "deskewed" not in plain.describe()


def test_test_time_shifts_shift_the_deskewed_digits_as_training_did(rng):
    # ink up to the borders, where a shift cuts some off: shifting first would change the slant
    x = (rng.random((6, 784)) * (rng.random((6, 784)) < 0.3)).astype(np.float32)
    deskewing, plain = conv_net("deskew"), conv_net()
    views = shifted_views(deskew(x, (784,)), (784,))
    expected = sum(plain.predict_proba(v) for v in views) / len(views)
    np.testing.assert_allclose(shifted_probabilities(deskewing, x), expected, rtol=1e-6)


def test_the_transform_is_kept_in_network_and_ensemble_files(tmp_path, rng):
    x = rng.random((12, 1, 28, 28), dtype=np.float32)
    net = conv_net("deskew")
    net.save(tmp_path / "net.npz")
    back = load_model(tmp_path / "net.npz")
    assert back.input_transform == "deskew"
    np.testing.assert_array_equal(back.predict_proba(x), net.predict_proba(x))
    assert "input_transform" not in conv_net().config()  # other files stay as they were
    members = [conv_net("deskew"), conv_net(seed=4)]  # each member prepares its own input
    Ensemble(members).save(tmp_path / "ensemble.npz")
    ensemble = load_model(tmp_path / "ensemble.npz")
    assert [m.input_transform for m in ensemble.networks] == ["deskew", None]
    expected = np.stack([m.predict_proba(x) for m in members])
    np.testing.assert_array_equal(ensemble.member_probabilities(x), expected)


@pytest.mark.parametrize(
    "transform, shape, message",
    [
        ("blur", (784,), "unknown input transform 'blur'"),
        ("deskew", (100,), "needs images"),
        ("deskew", (28, 28), "needs images"),
        (["deskew"], (784,), "unknown input transform"),
    ],
)
def test_a_transform_that_does_not_fit_is_refused(transform, shape, message):
    with pytest.raises(ConfigError, match=message):
        Network([Softmax(10)], "log-likelihood", input_shape=shape, input_transform=transform)


def test_the_trainer_reports_what_the_saved_network_then_scores(tmp_path):
    data = blobs(n_train=300, n_validation=100, n_test=100)
    net = Network(
        [FullyConnected(20, "relu"), Softmax(10)],
        "log-likelihood",
        device="cpu",
        input_transform="deskew",
    )
    config = TrainConfig(epochs=2, eta=0.1, monitor_training_accuracy=True)
    result = Trainer(net, data, config, expand="shifts", log=lambda msg: None).run()
    net.save(tmp_path / "net.npz")
    back = load_model(tmp_path / "net.npz")
    for split in ("validation", "test"):
        correct, _ = back.evaluate(getattr(data, split).x, getattr(data, split).y)
        assert int(correct) / 100 == result.history[-1][f"{split}_accuracy"]
    # the training accuracy is of the deskewed images' shifts, as trained on
    train = np.concatenate([deskew(data.train.x)] * 5)
    expanded = Trainer(net, data, config, expand="shifts", log=lambda msg: None).train_x
    assert expanded.shape == train.shape
    np.testing.assert_array_equal(expanded[:300], train[:300])


def test_a_non_finite_training_image_is_skipped_with_its_batch_not_a_crash():
    data = blobs(n_train=100, n_validation=50, n_test=50)
    data.train.x[7, 100] = np.nan
    net = Network([Softmax(10)], "log-likelihood", device="cpu", input_transform="deskew")
    lines = []
    config = TrainConfig(epochs=1, eta=0.1, mini_batch_size=10, nan_policy="skip-batch")
    result = Trainer(net, data, config, log=lines.append).run()
    assert any("non-finite gradient, batch skipped" in line for line in lines)
    assert result.history[-1]["test_accuracy"] > 0.1
