"""What is timed on gpunn's side: a preset's training or inference step over a batch pool.

The pool is K mini-batches of m images (K·m ≈ 8,192, 4 ≤ K ≤ 64) cut from real MNIST
when ``gpunn.data.load`` finds it, else from uniform random pixels in [0, 1) with
random labels; every library gets the same images, sent to its device once, so no
host→device copy happens inside a timed loop. gpunn's training step is exactly the
trainer's: ``gpunn.step.TrainStep`` (backprop then ``SGD.step``; on the GPU replayed from
a CUDA graph unless ``GPUNN_CUDA_GRAPHS=0``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gpunn.benchmark.timing import Runner
from gpunn.step import TrainStep

if TYPE_CHECKING:
    from gpunn.backend import Device
    from gpunn.presets import Preset

POOL_IMAGES = 8192
TRAIN_SIZE = 50_000  # n in the L2 term λ/n, as for the book's training set


@dataclass(frozen=True)
class Images:
    """Host images x float32 (N, 784) in [0, 1], labels int64 (N,), where they came from
    (words), and the files read (none for random images)."""

    x: np.ndarray
    y: np.ndarray
    source: str
    files: tuple = ()


def load_images(kind: str = "auto", data_dir=None, n: int = 16_384, seed: int = 0) -> Images:
    """MNIST training images (``kind`` 'mnist' or 'auto'), or random ones ('random', or
    'auto' when MNIST cannot be loaded: the reason is kept in ``source``)."""
    if kind not in ("auto", "mnist", "random"):
        raise ValueError(f"unknown data kind {kind!r}: choose auto, mnist or random")
    why = "asked for"
    if kind != "random":
        try:
            from gpunn.data import load
            from gpunn.run_setup import source_files

            data = load("mnist", data_dir, download=False)
            files = tuple(source_files(data.source))
            return Images(data.train.x[:n], data.train.y[:n], "mnist", files)
        except Exception as exc:  # an unfinished loader, no files: fall back, say why
            if kind == "mnist":
                raise
            why = f"MNIST not loaded: {type(exc).__name__}: {str(exc)[:120]}"
    rng = np.random.default_rng(seed)
    x = rng.random((n, 784), dtype=np.float32)
    return Images(x, rng.integers(0, 10, n), f"random ({why})")


@dataclass(frozen=True)
class BatchPool:
    """K host mini-batches: x (K, m) + input_shape float32, labels (K, m), onehot (K, m, 10)."""

    x: np.ndarray
    labels: np.ndarray
    onehot: np.ndarray

    @property
    def k(self) -> int:
        return len(self.x)


def make_pool(images: Images, batch_size: int, input_shape, seed: int = 0) -> BatchPool:
    """K = clamp(8192 // m, 4, 64) batches drawn (with a fixed shuffle) from ``images``."""
    k = min(64, max(4, POOL_IMAGES // batch_size))
    idx = np.random.default_rng(seed).permutation(k * batch_size) % len(images.x)
    x = np.ascontiguousarray(images.x[idx], dtype=np.float32)
    labels = images.y[idx].astype(np.int64)
    onehot = np.eye(10, dtype=np.float32)[labels]
    return BatchPool(
        x.reshape((k, batch_size, *input_shape)),
        labels.reshape(k, batch_size),
        onehot.reshape(k, batch_size, 10),
    )


def build_network(preset, device="cpu", seed: int = 0):
    """The preset's gpunn ``Network`` (float32) and its ``SGD`` with the preset's η, λ, μ."""
    from gpunn.optim import SGD

    net = preset.network(device, seed=seed)
    c = preset.config()
    return net, SGD(c.eta, c.lmbda, c.l1, c.momentum, n=TRAIN_SIZE)


def device_sync(device):
    """gpunn's device synchronisation; on the GPU also the whole device, so that kernels
    on any stream (CuPy's, Numba's) are finished."""
    if not device.is_gpu:
        return device.synchronize

    def sync():
        device.synchronize()
        device.xp.cuda.Device().synchronize()

    return sync


EAGER_PEER = "gpunn-eager"  # gpunn itself with CUDA graphs off: the graphs' A/B in one run


def gpunn_runner(
    preset: Preset,
    mode: str,
    pool: BatchPool,
    device: str | Device = "cpu",
    graphs: bool | None = None,
    name: str = "gpunn",
) -> Runner:
    """A ``Runner`` for gpunn: ``mode`` 'train' (backprop + SGD) or 'infer' (feedforward);
    ``graphs`` as ``TrainStep``'s (None: ``GPUNN_CUDA_GRAPHS``, on by default)."""
    net, opt = build_network(preset, device)
    dev = net.device
    m = pool.x.shape[1]
    xs = [dev.send(b, np.float32) for b in pool.x]
    ys = [dev.send(b, np.float32) for b in pool.onehot]
    k = len(xs)

    train_step = TrainStep(net, opt, m, graphs=graphs)

    def train(i: int) -> None:
        train_step(xs[i % k], ys[i % k], i)

    def infer(i: int):
        return net.feedforward(xs[i % k])

    info = {"pool_batches": k}

    def note_mode() -> None:  # 'graph', or 'eager' (CPU, graphs off, or capture refused)
        info["step_mode"] = train_step.mode
        info["graph_pool_bytes"] = train_step.pool_bytes()

    if mode == "train":
        return Runner(name, train, device_sync(dev), m, info, prepare=note_mode)
    return Runner(name, infer, device_sync(dev), m, info)
