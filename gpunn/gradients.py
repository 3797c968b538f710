"""Chapter 5's unstable gradients: how fast each hidden layer learns.

The book measures the "speed of learning" of hidden layer l as ‖δ^l‖ = ‖∂C/∂b^l‖, the
norm of the bias gradient averaged over a fixed set of training images, and watches
it at initialisation and through training. In deep sigmoid networks the earliest
layer learns far more slowly than the last (the vanishing gradient).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gpunn.backend import to_numpy
from gpunn.config import TrainConfig
from gpunn.layers import FullyConnected
from gpunn.network import Network
from gpunn.train import Trainer

BOOK_SIZES = ([784, 30, 30, 10], [784, 30, 30, 30, 10], [784, 30, 30, 30, 30, 10])
# (activation, init): sigmoid with N(0, 1) weights, then what 1/√n_in and ReLU change
VARIANTS = (("sigmoid", "large"), ("sigmoid", "default"), ("relu", "default"))


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
        return f"{self.sizes} {self.activation}, init {self.init}"

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
    epochs=30,
    eta=0.1,
    mini_batch_size=10,
    seed=0,
    device="cpu",
    log=None,
) -> SpeedRun:
    """Speeds at initialisation and after each of ``epochs`` epochs of SGD on ``data.train``."""
    net = sigmoid_net(sizes, activation, init, device, seed)
    x = net.device.send(data.train.x, net.dtype)
    labels = net.device.send(data.train.y)
    run = SpeedRun(list(sizes), activation, init, [layer_speeds(net, x, labels)])
    config = TrainConfig(
        epochs=1,
        mini_batch_size=mini_batch_size,
        eta=eta,
        seed=seed,
        monitor_validation_accuracy=False,
        monitor_test_accuracy=False,
    )
    trainer = Trainer(net, data, config, log=log or (lambda msg: None), progress=False)
    for epoch in range(epochs):
        trainer.config.epochs = epoch + 1
        trainer.run()
        run.speeds.append(layer_speeds(net, x, labels))
    return run
