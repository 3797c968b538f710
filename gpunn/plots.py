"""PNG plots with matplotlib (optional: ``pip install 'gpunn[plots]'``), drawn off-screen."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gpunn.errors import ConfigError


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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
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


def plot_learning_curves(histories: dict[str, list[dict]], path, key="test_accuracy") -> Path:
    """``key`` per epoch for each named run (e.g. accuracy in %, or a cost)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for name, history in histories.items():
        points = [(r["epoch"], r[key]) for r in history if r.get(key) is not None]
        if points:
            epochs, values = zip(*points, strict=True)
            scale = 100.0 if key.endswith("accuracy") else 1.0
            ax.plot(epochs, np.asarray(values) * scale, label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel(key.replace("_", " ") + (" (%)" if key.endswith("accuracy") else ""))
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
