"""What ``Trainer`` refuses before any work: arguments of the wrong kind, outputs that cannot
be written, a ``TrainConfig`` that does not fit the data, and examples of the wrong shape or
labels (``Network.check_examples``). Each is one ``ConfigError``, ``ShapeError`` or
``DataError`` naming what to change."""

from __future__ import annotations

from gpunn.config import TrainConfig
from gpunn.errors import ConfigError
from gpunn.values import check_positive_integer


def checked_inputs(
    network, data, config, checkpoint_dir, keep_checkpoints, metrics_path, expand, run_info
) -> TrainConfig:
    """``config`` checked against ``data`` (``TrainConfig.check``), once everything else
    ``Trainer`` takes has passed."""
    from gpunn.files import check_output
    from gpunn.network import Network

    if not isinstance(network, Network):
        raise ConfigError(f"Trainer takes a gpunn Network, got {type(network).__name__}")
    splits = [getattr(data, s, None) for s in ("validation", "test")]
    if not hasattr(getattr(data, "train", None), "x") or not all(
        s is None or hasattr(s, "x") for s in splits
    ):
        raise ConfigError(
            "Trainer takes data with a train split, and validation and test splits or None, "
            "each with x and y (as gpunn.data.load gives)"
        )
    if not isinstance(config, TrainConfig):
        raise ConfigError(f"Trainer takes a TrainConfig, got {type(config).__name__}")
    check_positive_integer("keep_checkpoints", keep_checkpoints)
    if checkpoint_dir:
        check_output(checkpoint_dir, "checkpoint_dir", folder=True)
    if metrics_path:
        check_output(metrics_path, "metrics_path")
    validation = data.validation
    config = config.check(trained_count(data, expand), len(validation.x) if validation else 0)
    distortions = config.distortion_settings()
    if distortions and expand != "distort":
        name, value = distortions[0]
        raise ConfigError(
            f"{name} {value:g} needs expand='distort' (this run's expansion: {expand or 'none'})"
        )
    if expand == "distort":
        from gpunn.data.expand import check_distort_strength

        check_distort_strength(config.distort_strength, network.input_shape)
    if run_info is not None and not isinstance(run_info, dict):
        raise ConfigError(f"run_info must be a dict or None, got {type(run_info).__name__}")
    splits = {"training": data.train, "validation": data.validation, "test": data.test}
    for name, split in splits.items():
        if split is not None:  # skip-batch skips the batches a bad training image spoils
            finite = not (name == "training" and config.nan_policy == "skip-batch")
            network.check_examples(split.x, split.y, f"the {name}", finite=finite)
    return config


def trained_count(data, expand) -> int:
    """The training images a step's mini-batches are cut from: ×SHIFT_VIEWS with the book's
    shifts; as many as given with fresh distortions (the same images, redrawn)."""
    from gpunn.data.expand import SHIFT_VIEWS

    return len(data.train.x) * (SHIFT_VIEWS if expand == "shifts" else 1)
