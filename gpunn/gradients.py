"""Chapter 5's unstable gradients: how fast each hidden layer learns.

The book measures the "speed of learning" of hidden layer l as ‖δ^l‖ = ‖∂C/∂b^l‖, the
norm of the bias gradient averaged over a fixed set of training images, and watches
it at initialisation and through training. In deep sigmoid networks the earliest
layer learns far more slowly than the last (the vanishing gradient).

The book's study (its fig/generate_gradient.py): network2's nets, cross-entropy cost on
sigmoid outputs, N(0, 1/n_in) weights, the first 1,000 training images, 500 epochs of
one full-batch step each (mini-batch 1,000), η 0.1, λ 5.0. ``track_speeds``' defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gpunn.backend import to_numpy
from gpunn.config import TrainConfig
from gpunn.init import INIT_WORDS
from gpunn.interrupts import TrainingInterrupted
from gpunn.layers import FullyConnected
from gpunn.network import Network
from gpunn.train import Trainer

BOOK_SIZES = ([784, 30, 30, 10], [784, 30, 30, 30, 10], [784, 30, 30, 30, 30, 10])
# (activation, init): sigmoid with N(0, 1) weights (chapter 1's), the book's study with
# N(0, 1/n_in) (network2's), and ReLU with N(0, 1/n_in)
VARIANTS = (("sigmoid", "large"), ("sigmoid", "default"), ("relu", "default"))
BOOK_TRAINING = {"epochs": 500, "mini_batch_size": 1000, "eta": 0.1, "lmbda": 5.0}


def layer_speeds(network: Network, x, labels) -> list[float]:
    """‖∂C/∂b^l‖ for each hidden layer l (all layers but the output), gradient averaged over x."""
    y = network.xp.eye(network.n_outputs, dtype=network.dtype)[labels]
    network.backprop(x, y)
    return [float(np.linalg.norm(to_numpy(layer.gb))) / len(x) for layer in network.layers[:-1]]


def sigmoid_net(sizes, activation: str = "sigmoid", init: str = "default", device="cpu", seed=0):
    """A network2-style [784, h, …, 10] net with cross-entropy cost (sigmoid output)."""
    hidden = [FullyConnected(n, activation, init=init) for n in sizes[1:-1]]
    return Network(
        hidden + [FullyConnected(sizes[-1], "sigmoid", init=init)],
        "cross-entropy",
        input_shape=(sizes[0],),
        device=device,
        seed=seed,
    )


@dataclass
class SpeedRun:
    sizes: list[int]
    activation: str
    init: str
    speeds: list[list[float]] = field(default_factory=list)  # [epoch][hidden layer]

    @property
    def label(self) -> str:
        return f"{self.sizes} {self.activation}, {INIT_WORDS.get(self.init, self.init)}"

    def ratio_at_init(self) -> float:
        """Speed of the last hidden layer over the first, at initialisation."""
        first, last = self.speeds[0][0], self.speeds[0][-1]
        return last / first if first > 0 else float("inf")

    def to_dict(self) -> dict:
        return {
            "sizes": self.sizes,
            "activation": self.activation,
            "init": self.init,
            "speeds": self.speeds,
            "ratio_last_to_first_at_init": self.ratio_at_init(),
        }


def track_speeds(
    sizes,
    data,
    *,
    activation="sigmoid",
    init="default",
    epochs=BOOK_TRAINING["epochs"],
    eta=BOOK_TRAINING["eta"],
    mini_batch_size=BOOK_TRAINING["mini_batch_size"],
    lmbda=BOOK_TRAINING["lmbda"],
    seed=0,
    device="cpu",
    log=None,
) -> SpeedRun:
    """Speeds at initialisation and after each of ``epochs`` epochs of SGD on ``data.train``.
    A SIGINT or SIGTERM stops it with TrainingInterrupted, leaving no checkpoint."""
    net = sigmoid_net(sizes, activation, init, device, seed)
    x = net.device.send(data.train.x, net.dtype)
    labels = net.device.send(data.train.y)
    run = SpeedRun(list(sizes), activation, init, [layer_speeds(net, x, labels)])
    config = TrainConfig(
        epochs=1,
        mini_batch_size=mini_batch_size,
        eta=eta,
        lmbda=lmbda,
        seed=seed,
        monitor_validation_accuracy=False,
        monitor_test_accuracy=False,
    )
    quiet = log or (lambda msg: None)
    trainer = Trainer(net, data, config, log=quiet, progress=False, checkpoint_on_stop=False)
    for epoch in range(epochs):
        trainer.config.epochs = epoch + 1
        late = trainer.run().late_stop  # a signal in the epoch's evaluation
        if late:
            raise TrainingInterrupted(f"{late} received: stopped after epoch {epoch + 1}", None)
        run.speeds.append(layer_speeds(net, x, labels))
    return run
