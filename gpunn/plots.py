"""PNG plots with matplotlib (optional: ``pip install 'gpunn[plots]'``), drawn off-screen."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from gpunn.errors import ConfigError
from gpunn.files import atomic_write_bytes


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError("plots need matplotlib: pip install 'gpunn[plots]'") from None
    return plt


def require() -> None:
    """ConfigError now, before any work, when matplotlib is missing."""
    _pyplot()


def _save(fig, path) -> Path:
    """Write ``fig`` to ``path`` (its format from the suffix, PNG without one) atomically."""
    path = Path(path)
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format=path.suffix[1:] or "png", dpi=110, bbox_inches="tight")
    finally:
        _pyplot().close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def plot_speeds(runs, path, columns: int = 3, title: str = "Speed of learning ‖∂C/∂b^l‖") -> Path:
    """Chapter 5's plot: each hidden layer's speed against epoch (log scale), a panel per run."""
    plt = _pyplot()
    rows = -(-len(runs) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.4 * rows), squeeze=False)
    for ax in axes.flat[len(runs) :]:
        ax.axis("off")
    for ax, run in zip(axes.flat, runs, strict=False):
        speeds = np.asarray(run.speeds)
        for layer in range(speeds.shape[1]):
            ax.plot(speeds[:, layer], label=f"hidden layer {layer + 1}")
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("‖∂C/∂b‖")
        ax.set_title(run.label, fontsize=8)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_learning_curves(
    histories: dict[str, list[dict]], path, key="test_accuracy", x="epoch", ylim=None
) -> Path:
    """``key`` per epoch for each named run (accuracy in %, or a cost, or η), against the
    epoch or (``x="images"``) the millions of training images seen; ``ylim`` (low, high).
    ``key`` may be a list of accuracies: a line for each run and key ('run: key')."""
    from gpunn.monitor import images_seen

    keys = [key] if isinstance(key, str) else list(key)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for name, history in histories.items():
        xs = images_seen(history) if x == "images" else [r["epoch"] for r in history]
        for k in keys:
            points = [(at, r[k]) for at, r in zip(xs, history, strict=True) if r.get(k) is not None]
            if not points:
                continue
            at, values = zip(*points, strict=True)
            at = np.asarray(at) / (1e6 if x == "images" else 1)
            scale = 100.0 if k.endswith("accuracy") else 1.0
            label = name if len(keys) == 1 else f"{name}: {k.replace('_', ' ')}"
            ax.plot(at, np.asarray(values) * scale, label=label, marker="." if len(at) < 2 else "")
    ax.set_xlabel("training images seen (millions)" if x == "images" else "epoch")
    what = keys[0].replace("_", " ") if len(keys) == 1 else "accuracy"
    ax.set_ylabel(what + (" (%)" if keys[0].endswith("accuracy") else ""))
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_digits(images, labels, predictions, path, columns: int = 10) -> Path:
    """A grid of 28×28 digits titled 'label→prediction' (e.g. the misclassified ones)."""
    plt = _pyplot()
    n = len(images)
    rows = max(1, -(-n // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 0.9, rows * 1.0), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < n:
            ax.imshow(np.asarray(images[k]).reshape(28, 28), cmap="gray_r")
            ax.set_title(f"{labels[k]}→{predictions[k]}", fontsize=7)
    return _save(fig, path)


def plot_image_grid(images, path, column_titles=(), title: str = "") -> Path:
    """Images (rows, columns, 784) as a grid of 28×28 pictures, titled per column."""
    plt = _pyplot()
    images = np.asarray(images)
    rows, columns = images.shape[:2]
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 0.9, rows * 0.9), squeeze=False)
    for (r, c), ax in np.ndenumerate(axes):
        ax.axis("off")
        ax.imshow(images[r, c].reshape(28, 28), cmap="gray_r", vmin=0, vmax=1)
        if r == 0 and c < len(column_titles):
            ax.set_title(column_titles[c], fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def plot_filters(w, path) -> Path:
    """The first layer's filters (F, 1, k, k) as small images."""
    plt = _pyplot()
    w = np.asarray(w)[:, 0]
    columns = min(10, len(w))
    rows = -(-len(w) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 0.8, rows * 0.8), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < len(w):
            ax.imshow(w[k], cmap="gray_r", interpolation="nearest")
    return _save(fig, path)
