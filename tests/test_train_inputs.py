"""gpunn.train_inputs: what Trainer refuses before any work, each as one ConfigError."""

from types import SimpleNamespace

import pytest

from gpunn.config import TrainConfig
from gpunn.errors import ConfigError
from gpunn.layers import FullyConnected, Softmax
from gpunn.network import Network
from gpunn.train import Trainer
from tests.synthetic import blobs


def small_net():
    return Network([FullyConnected(20, "relu"), Softmax(10)], "log-likelihood", device="cpu")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"network": "net.npz"}, "takes a gpunn Network, got str"),
        ({"data": SimpleNamespace(test=None)}, "takes data with a train split"),
        ({"config": {"epochs": 1}}, "takes a TrainConfig, got dict"),
        ({"keep_checkpoints": 0}, "keep_checkpoints must be a positive integer"),
        ({"run_info": [("preset", "fc30")]}, "run_info must be a dict or None, got list"),
        ({"expand": None, "config": TrainConfig(epochs=1, distort_scale=0.1)}, "needs expand"),
    ],
)
def test_arguments_of_the_wrong_kind_are_one_config_error(change, message):
    args = {"network": small_net(), "data": blobs(), "config": TrainConfig(epochs=1)}
    args.update(change)
    network, data, config = args.pop("network"), args.pop("data"), args.pop("config")
    with pytest.raises(ConfigError, match=message):
        Trainer(network, data, config, **args)


def test_a_distortion_strength_past_the_images_side_names_the_strength():
    """Shifts of 2 px per unit of strength: 8 is 16 px, past 14×14 images (fine for 28×28)."""
    net = Network(
        [FullyConnected(20, "relu"), Softmax(10)],
        "log-likelihood",
        input_shape=(4, 14, 14),
        device="cpu",
    )
    config = TrainConfig(epochs=1, distort_strength=8.0)
    with pytest.raises(ConfigError, match="distort_strength 8 shifts images by up to 16 pixels"):
        Trainer(net, blobs(), config, expand="distort")
    Trainer(small_net(), blobs(), config, expand="distort")


@pytest.mark.parametrize("validation", [0, 200])
def test_a_schedule_or_early_stopping_needs_validation_accuracy(validation):
    data = blobs(n_validation=validation)
    for steered in ({"schedule": 2}, {"early_stopping": 3}):
        config = TrainConfig(epochs=1, monitor_validation_accuracy=validation == 0, **steered)
        why = (
            "there are no validation images"
            if validation == 0
            else "monitor_validation_accuracy is off"
        )
        with pytest.raises(ConfigError, match=f"follows validation accuracy, but {why}"):
            Trainer(small_net(), data, config)


def test_the_mini_batch_is_checked_against_the_images_after_the_book_s_shifts():
    data = blobs(n_train=100)  # 500 images with the shifts
    config = TrainConfig(epochs=1, mini_batch_size=400)
    Trainer(small_net(), data, config, expand="shifts")
    with pytest.raises(
        ConfigError, match=r"mini-batch size \(400\) is larger than the training data \(100"
    ):
        Trainer(small_net(), data, config, expand="distort")


def test_the_start_line_says_only_the_warm_up_and_annealing_that_happen():
    from gpunn.commands import _eta_words

    def words(**settings):
        return _eta_words(TrainConfig(**settings), n_batches=4)

    assert words(epochs=2, warmup=1.0, anneal="cosine") == [
        "warmed up over 1 epoch",
        "cosine-annealed to 0",
    ]
    assert words(epochs=1, warmup=1.0, anneal="cosine") == ["warmed up over 1 epoch"]
    assert words(epochs=2, warmup=0.1, anneal="cosine") == ["cosine-annealed to 0"]  # 0 steps
