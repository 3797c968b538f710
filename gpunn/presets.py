"""The book's networks by name, each with its hyper-parameters and the accuracy the book reports.

Chapter 1's networks start from N(0, 1/n_in) weights, chapter 3's improved default,
rather than the book's N(0, 1) there: fc30 then reaches 95.7–96.3 % instead of
94.7–95.5 %, fc100 97.7 % instead of 96.2 % (see README). ``--init large``
(``init="large"``) gives the book's.

λ is in network2 units (weight decay 1 − ηλ/n): network3's chapter 6 value λ₃ at
mini-batch m appears here as λ₃·m, e.g. λ₃ = 0.1 at m = 10 is λ = 1.0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from gpunn.config import TrainConfig
from gpunn.errors import ConfigError
from gpunn.init import check_init
from gpunn.layers import ConvPool, FullyConnected, Layer, Softmax

MNIST_FLAT = (784,)
MNIST_IMAGE = (1, 28, 28)


@dataclass(frozen=True)
class Preset:
    name: str
    reference: str  # where in the book
    book_accuracy: float  # percent, as the book reports it
    layers: Callable[[], list[Layer]]
    cost: str
    train: dict = field(default_factory=dict)  # TrainConfig fields
    input_shape: tuple[int, ...] = MNIST_FLAT
    expand: str | None = None  # "shifts": the book's 5× expanded training data
    ensemble: int = 1

    def config(self, **overrides) -> TrainConfig:
        """The preset's TrainConfig with ``overrides`` (None values ignored) applied."""
        values = {**self.train, **{k: v for k, v in overrides.items() if v is not None}}
        return TrainConfig(**values)

    def network(
        self,
        device=None,
        dtype="float32",
        seed: int = 0,
        init: str | None = None,
        input_transform: str | None = None,
    ):
        """A fresh Network of this preset's layers; ``init`` overrides every layer's scheme,
        ``input_transform`` ("deskew") is the network's (``Network.prepare``)."""
        from gpunn.network import Network

        layers = self.layers()
        if init is not None:
            for layer in layers:
                layer.init = check_init(init)
        return Network(
            layers,
            self.cost,
            input_shape=self.input_shape,
            device=device,
            dtype=dtype,
            seed=seed,
            input_transform=input_transform,
        )

    def describe_layers(self) -> str:
        parts = []
        for layer in self.layers():
            if isinstance(layer, ConvPool):
                parts.append(
                    f"conv {layer.n_filters}×{layer.kernel}×{layer.kernel} "
                    f"{layer.pooling}-pool {layer.pool} {layer.activation}"
                )
            else:
                drop = f" dropout {layer.p_dropout:g}" if layer.p_dropout else ""
                parts.append(f"{layer.kind} {layer.n_out} {layer.activation}{drop}")
        return " → ".join(parts)


def _fc(sizes, init: str, activation="sigmoid"):
    return lambda: [FullyConnected(n, activation, init=init) for n in sizes]


def _chapter6(n_conv: int, activation: str, fc=(100,), p_dropout=0.0):
    def build():
        layers: list[Layer] = [ConvPool(20, 5, 2, activation)]
        if n_conv == 2:
            layers.append(ConvPool(40, 5, 2, activation))
        layers += [FullyConnected(n, activation, p_dropout, init="network3") for n in fc]
        return layers + [Softmax(10, p_dropout)]

    return build


_CH6_SIGMOID = dict(epochs=60, mini_batch_size=10, eta=0.1)
_CH6_RELU = dict(epochs=60, mini_batch_size=10, eta=0.03, lmbda=1.0)


def _final_presets() -> list[Preset]:
    """final, its fast variant, and ensembles of five of each: the same network."""
    final = Preset(
        "final",
        "chapter 6, two FC 1000 with dropout 0.5, expanded data",
        99.60,
        _chapter6(2, "relu", fc=(1000, 1000), p_dropout=0.5),
        "log-likelihood",
        dict(epochs=40, mini_batch_size=10, eta=0.03),
        MNIST_IMAGE,
        "shifts",
    )
    fast = replace(
        final,
        name="final-fast",
        reference="final at mini-batch 256 for speed: η 0.8 (η·m/10) reached over a "
        "1-epoch warm-up",
        train=dict(epochs=40, mini_batch_size=256, eta=0.8, warmup=1.0),
    )
    five = dict(book_accuracy=99.67, ensemble=5)
    return [
        final,
        replace(
            final,
            name="ensemble5",
            reference="chapter 6, five final nets (seeds seed … seed+4), voting and averaging",
            **five,
        ),
        fast,
        replace(fast, name="ensemble5-fast", reference="five final-fast nets", **five),
    ]


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset(
            "fc30",
            "chapter 1, [784, 30, 10], init N(0, 1/n_in) (the book's N(0, 1): --init large)",
            95.42,
            _fc([30, 10], init="default"),
            "quadratic",
            dict(epochs=30, mini_batch_size=10, eta=3.0),
        ),
        Preset(
            "fc100",
            "chapter 1, [784, 100, 10], init N(0, 1/n_in) (the book's N(0, 1): --init large)",
            96.59,
            _fc([100, 10], init="default"),
            "quadratic",
            dict(epochs=30, mini_batch_size=10, eta=3.0),
        ),
        Preset(
            "fc100-ce-l2",
            "chapter 3, cross-entropy + L2, [784, 100, 10] "
            "(the book's recipe: --eta 0.1 --epochs 60 --schedule 0)",
            98.04,
            _fc([100, 10], init="default"),
            "cross-entropy",
            dict(epochs=120, mini_batch_size=10, eta=0.5, lmbda=5.0, schedule=5),
        ),
        Preset(
            "shallow",
            "chapter 6, FC 100 sigmoid + softmax",
            97.80,
            lambda: [FullyConnected(100, init="network3"), Softmax(10)],
            "log-likelihood",
            _CH6_SIGMOID,
        ),
        Preset(
            "conv1",
            "chapter 6, one ConvPool 20×5×5 + FC 100 + softmax",
            98.78,
            _chapter6(1, "sigmoid"),
            "log-likelihood",
            _CH6_SIGMOID,
            MNIST_IMAGE,
        ),
        Preset(
            "conv2",
            "chapter 6, ConvPool 20 and 40 + FC 100 + softmax",
            99.06,
            _chapter6(2, "sigmoid"),
            "log-likelihood",
            _CH6_SIGMOID,
            MNIST_IMAGE,
        ),
        Preset(
            "conv2-relu",
            "chapter 6, conv2 with ReLU, η 0.03, λ₃ 0.1",
            99.23,
            _chapter6(2, "relu"),
            "log-likelihood",
            _CH6_RELU,
            MNIST_IMAGE,
        ),
        Preset(
            "conv2-relu-expanded",
            "chapter 6, conv2-relu on expanded data",
            99.37,
            _chapter6(2, "relu"),
            "log-likelihood",
            _CH6_RELU,
            MNIST_IMAGE,
            "shifts",
        ),
        Preset(
            "conv2-relu-fc2",
            "chapter 6, expanded data + an extra FC 100",
            99.43,
            _chapter6(2, "relu", fc=(100, 100)),
            "log-likelihood",
            _CH6_RELU,
            MNIST_IMAGE,
            "shifts",
        ),
        *_final_presets(),
    ]
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown preset {name!r}: choose one of {', '.join(PRESETS)} (see: gpunn presets)"
        ) from None
