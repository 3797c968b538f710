"""``Network``: layers composed on one device, with feedforward, backprop and evaluation.

    net = Network([ConvPool(20), FullyConnected(100), Softmax(10)],
                  cost="log-likelihood", input_shape=(1, 28, 28), device="cpu")

Inputs are batches: x of shape (N,) + input_shape (or flattened, (N, prod)), labels
y as integers (N,). Backprop follows the book's four equations over the whole
mini-batch: δ^L from the cost, δ^l = (δ^{l+1} w^{l+1}) ⊙ σ'(z^l), and per-layer
gradients summed over the batch (the optimiser divides by the batch size).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gpunn import input_checks, replicas
from gpunn.backend import Device, get_device
from gpunn.errors import ConfigError, ShapeError
from gpunn.functions.costs import get_cost
from gpunn.functions.dropout import step_key
from gpunn.layers import Layer
from gpunn.values import is_integer

DTYPES = {"float32": np.float32, "float64": np.float64}


class Network:
    def __init__(
        self,
        layers: list[Layer],
        cost="quadratic",
        *,
        input_shape=(784,),
        device: str | Device | None = None,
        dtype: str = "float32",
        seed: int = 0,
        input_transform: str | None = None,
    ) -> None:
        try:
            layers = [] if isinstance(layers, str) else list(layers)
        except TypeError:
            layers = []
        if not layers:
            raise ConfigError("a network needs a list of one or more layers")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise ConfigError(f"layer {i} is a {type(layer).__name__}, not a gpunn layer")
            if layer.w is not None or any(layer is other for other in layers[:i]):
                raise ConfigError(
                    f"layer {i} ({layer.kind}) is already part of a network: layers hold their "
                    f"network's weights, so make a new one for each place"
                )
        if str(dtype) not in DTYPES:
            raise ConfigError(f"dtype must be float32 or float64, got {dtype!r}")
        self.layers = layers
        self.cost = get_cost(cost)
        self.cost.check_output(self.layers[-1].activation)
        for layer in self.layers[:-1]:
            if layer.activation.name == "softmax":
                raise ConfigError("softmax is only supported in the output layer")
        self.device = get_device(device)
        self.dtype = np.dtype(DTYPES[str(dtype)])
        self.input_shape = input_checks.check_input_shape(input_shape)
        if not is_integer(seed) or seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
        self.seed = int(seed)
        self.input_transform = input_checks.check_input_transform(input_transform, self.input_shape)
        try:
            self.n_outputs = self._build(np.random.default_rng(self.seed))
        except BaseException:  # the layers stay free for another network
            for layer in self.layers:
                layer.w = layer.b = None
            raise

    def _build(self, rng) -> int:
        """Draw every layer's weights in turn; the number of outputs."""
        shape = self.input_shape
        for layer in self.layers:
            w, b = layer.build(shape, rng)
            layer.set_params(
                {"w": self.device.send(w, self.dtype), "b": self.device.send(b, self.dtype)}
            )
            shape = layer.out_shape
        if len(shape) != 1:
            raise ShapeError(f"the last layer must give a vector per example, not shape {shape}")
        return shape[0]

    @property
    def xp(self):
        return self.device.xp

    def describe(self) -> str:
        body = "\n".join(f"  {i}: {layer.describe()}" for i, layer in enumerate(self.layers))
        shape = f"{self.input_shape}"
        if self.input_transform:
            shape += f" {input_checks.INPUT_TRANSFORMS[self.input_transform]}"
        return f"Network on {self.device.name}, input {shape}, cost {self.cost}\n{body}"

    def prepare(self, x):
        """x (N, …) as the first layer takes it: on this network's device in its dtype, and
        through the input transform when the network has one (``deskew``:
        ``gpunn.data.deskew``)."""
        x = self.device.send(x, self.dtype)
        if self.input_transform is None:
            return x
        from gpunn.data.deskew import deskew

        return deskew(x, self.input_shape)

    def check_examples(self, x, labels=None, name: str = "the", finite: bool = True) -> None:
        """ShapeError unless x is (N,) + input_shape or (N, prod) and labels (N,); DataError
        unless the pixels are finite reals and the labels integers in 0 .. n_outputs − 1
        (``gpunn.input_checks.check_examples``)."""
        input_checks.check_examples(x, labels, self.input_shape, self.n_outputs, name, finite)

    def check_input(self, x) -> None:
        """Raise ShapeError unless x is (N,) + input_shape or (N, prod(input_shape))."""
        input_checks.check_input(x, self.input_shape)

    # --- forward and backward -------------------------------------------------------
    def feedforward(self, x, train: bool = False, step: int | Any = 0, seed: int | None = None):
        """The output activations a^L (N, n_outputs); (``seed``, ``step``) key the dropout masks
        (``step`` an int, or a 1-element device array read when the masks are drawn).

        In evaluation mode (``train`` false) this is ``output(x)[1]``: step and seed play no
        part, and a split CPU batch leaves the layers' caches alone (``output`` gives z^L).
        x is not checked, nor put through the input transform (this is the training loop's
        path, on prepared splits): ``predict`` does both."""
        if not train:
            return self.output(x)[1]
        return self.forward_layers(self.layers, x, train, step, self.seed if seed is None else seed)

    def output(self, x) -> tuple[Any, Any]:
        """(z^L, a^L) of x in evaluation mode. On the CPU a large enough batch of a
        convolutional network is split over the cores, as ``backprop``'s is; the layers'
        caches are then not this batch's."""
        parts = replicas.parts_for(self, x.shape[0], train=False)
        if parts > 1:
            return replicas.output(self, x, parts)
        a = self.forward_layers(self.layers, x, False, 0, self.seed)
        return self.layers[-1].z, a

    def backprop(self, x, y_onehot, step: int | Any = 0, seed: int | None = None) -> None:
        """Forward in training mode, then fill each layer's ``gw``, ``gb`` (sums over the batch).

        On the CPU a large enough batch of a convolutional network is split over the cores
        (``gpunn.replicas``; ``GPUNN_CPU_THREADS=1`` keeps it whole): the same sums, added
        in another order, and the layers' caches (x, z, a, …) are then not this batch's."""
        seed = self.seed if seed is None else seed
        parts = replicas.parts_for(self, x.shape[0])
        if parts > 1:
            replicas.backprop(self, x, y_onehot, step, seed, parts)
        else:
            self.backprop_layers(self.layers, x, y_onehot, step, seed)

    def backprop_layers(self, layers, x, y_onehot, step, seed: int) -> None:
        """``backprop`` through ``layers`` (this network's, or a replica's) on this batch."""
        self.forward_layers(layers, x, True, step, seed)
        out = layers[-1]
        delta = self.cost.delta(out.activation, out.z, out.a, y_onehot)
        for i in range(len(layers) - 1, -1, -1):
            with replicas.one_core(layers[i], True):
                ga = layers[i].backward(delta, need_gx=i > 0)
            if i > 0:
                below = layers[i - 1]
                delta = below.activation.backward(below.z, below.a, ga.reshape(below.z.shape))

    @staticmethod
    def forward_layers(layers, x, train: bool, step, seed: int):
        """a^L of x through ``layers`` (this network's, or a replica's), each caching its own."""
        a = x
        for i, layer in enumerate(layers):
            key = step_key(seed, step, i) if train and layer.p_dropout else 0
            with replicas.one_core(layer, train):
                a = layer.forward(a, train, key)
        return a

    # --- evaluation -----------------------------------------------------------------
    def predict_proba(self, x, batch_size: int = 1000, *, prepared: bool = False):
        """Output activations for all of x, in batches (evaluation mode; x through the input
        transform first, if the network has one, unless ``prepared`` says it has been)."""
        xp = self.xp
        input_checks.check_batch_size(batch_size)
        self.check_examples(x)
        if len(x) == 0:
            return xp.zeros((0, self.n_outputs), dtype=self.dtype)
        x = self.device.send(x, self.dtype) if prepared else self.prepare(x)
        return xp.concatenate(
            [self.feedforward(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        )

    def predict(self, x, batch_size: int = 1000):
        """The predicted class (argmax of a^L) of each example, as a device array."""
        return self.predict_proba(x, batch_size).argmax(axis=1)

    def evaluate(
        self, x, labels, *, cost=False, batch_size=1000, check=True, prepared=False
    ) -> tuple[Any, Any]:
        """(number correct, summed cost or None) as 0-d device arrays: no host transfer
        (``check=False``: x and labels were checked before, skip the one read of the labels;
        ``prepared``: x has been through ``prepare`` already, as the trainer's splits have)."""
        xp = self.xp
        input_checks.check_batch_size(batch_size)
        if check:
            self.check_examples(x, labels)
        x = self.device.send(x, self.dtype) if prepared else self.prepare(x)
        labels = self.device.send(labels, np.int64)
        correct = xp.zeros((), dtype=np.int64)
        total = xp.zeros((), dtype=self.dtype) if cost else None
        eye = xp.eye(self.n_outputs, dtype=self.dtype)
        for i in range(0, len(x), batch_size):
            xb, yb = x[i : i + batch_size], labels[i : i + batch_size]
            z, a = self.output(xb)
            correct += (a.argmax(axis=1) == yb).sum()
            if cost:
                total += self.cost.fn(z, a, eye[yb])
        return correct, total

    def weight_norm_sq(self):
        """Σ‖w‖² over all layers' weights (a device scalar), for the L2 term of the cost."""
        return sum((layer.w * layer.w).sum() for layer in self.layers)

    # --- parameters -----------------------------------------------------------------
    def named_params(self):
        """[(name, array)] with names like 'layer0/w', in a fixed order."""
        return [
            (f"layer{i}/{k}", v)
            for i, layer in enumerate(self.layers)
            for k, v in layer.params().items()
        ]

    def state(self) -> dict[str, np.ndarray]:
        """Host copies of every parameter, keyed as ``named_params``."""
        from gpunn.backend import to_numpy

        return {name: to_numpy(v).copy() for name, v in self.named_params()}

    def load_state(self, state: dict) -> None:
        """Replace every parameter with the arrays in ``state`` (checked for shape, and for
        values finite in this network's dtype)."""
        for i, layer in enumerate(self.layers):
            params = {}
            for k, v in layer.params().items():
                name = f"layer{i}/{k}"
                if name not in state:
                    raise ShapeError(f"parameters for {name} are missing")
                if tuple(state[name].shape) != tuple(v.shape):
                    raise ShapeError(
                        f"{name} has shape {tuple(state[name].shape)}, expected {tuple(v.shape)}"
                    )
                params[k] = self.device.send_finite(state[name], self.dtype, name)
            layer.set_params(params)

    def config(self) -> dict:
        config = {
            "layers": [layer.config() for layer in self.layers],
            "cost": self.cost.name,
            "input_shape": list(self.input_shape),
            "dtype": self.dtype.name,
            "seed": self.seed,
        }
        if self.input_transform:  # only then, so that other files stay as they were
            config["input_transform"] = self.input_transform
        return config

    def save(self, path, metadata: dict | None = None) -> None:
        """Write the network to one .npz file (see ``gpunn.serialize``)."""
        from gpunn.serialize import save_network

        save_network(self, path, metadata)

    @classmethod
    def load(cls, path, device=None) -> Network:
        """Read a network saved by ``save`` onto ``device``."""
        from gpunn.serialize import load_network

        return load_network(path, device)
