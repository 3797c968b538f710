"""Training checkpoints: the whole state of a run in one .npz, written atomically.

A checkpoint holds the network's parameters (``param/…``), the optimiser's buffers
(velocities ``velocity/…`` and, with ``ema``, averages ``average/…``) and a JSON header
with the network config, the training config, the position in training (epoch, batch,
step), the tracker (η schedule, best accuracy, early-stopping counters) and the metrics
so far. Random state needs no saving: the
shuffle of epoch e comes from SeedSequence([seed, e]) and dropout masks are a hash of
(seed, step, layer), so both are recomputed exactly on resume.

Files are named ``ckpt-EEEE-BBBBBB.npz`` (epochs done, batches into the next epoch) and
the newest ``keep`` are kept. ``load_latest`` skips an unreadable newest file and takes
the last good one.
"""

from __future__ import annotations

import sys
from pathlib import Path

from gpunn.errors import ModelFileError
from gpunn.serialize import check_parameters, read_npz, write_npz

CHECKPOINT_FORMAT = "gpunn-checkpoint"
CHECKPOINT_FORMAT_VERSION = 1
# what Trainer.restore reads from the header's "train" entry, and its types
TRAIN_STATE = {
    "epoch": int,
    "batch": int,
    "step": int,
    "total_seconds": (int, float),
    "history": list,
    "tracker": dict,
    "config": dict,
}


def checkpoint_paths(directory) -> list[Path]:
    """Checkpoint files in ``directory``, oldest first (a folder named like one is none)."""
    return sorted(p for p in Path(directory).glob("ckpt-*.npz") if not p.is_dir())


def checkpoint_name(epoch: int, batch: int) -> str:
    """The file name of the checkpoint taken ``batch`` batches into the epoch after ``epoch``."""
    return f"ckpt-{epoch:04d}-{batch:06d}.npz"


def unused_checkpoint_dir(name: str) -> Path:
    """``name``, or ``name-2``, ``name-3``, … : the first that is missing or empty, so no
    other run's checkpoints (its own or an ensemble's member*/) are in it."""
    path, k = Path(name), 1
    while path.exists() and (not path.is_dir() or any(path.iterdir())):
        k += 1
        path = Path(f"{name}-{k}")
    return path


def save_checkpoint(directory, network, optimizer, train_state: dict, keep: int = 3) -> Path:
    """Write one checkpoint into ``directory`` and prune all but the newest ``keep`` of those
    up to it: files of later positions (another run's, left in the folder) are never
    pruned, so they cannot push out the checkpoint just written."""
    from gpunn import __version__

    directory = Path(directory)
    name = checkpoint_name(train_state["epoch"], train_state["batch"])
    arrays = {f"param/{k}": v for k, v in network.state().items()}
    arrays.update(optimizer.state())  # velocity/… and average/…
    header = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "gpunn_version": __version__,
        "network": network.config(),
        "train": train_state,
    }
    path = directory / name
    write_npz(path, arrays, header)
    for old in [p for p in checkpoint_paths(directory) if p.name <= name][:-keep]:
        old.unlink(missing_ok=True)
    return path


def read_checkpoint(path) -> tuple[dict, dict, dict]:
    """(header, params, optimizer buffers) of one checkpoint file."""
    header, arrays = read_npz(path, {CHECKPOINT_FORMAT: CHECKPOINT_FORMAT_VERSION})
    return checked_checkpoint(path, header, arrays)


def checked_checkpoint(path, header: dict, arrays: dict) -> tuple[dict, dict, dict]:
    """(header, params, optimizer buffers) of a checkpoint read by ``read_npz``;
    ModelFileError naming ``path`` when its header lacks the training state."""
    params, buffers = split_arrays(arrays)
    train = header.get("train")
    if not isinstance(header.get("network"), dict) or not isinstance(train, dict):
        raise ModelFileError(f"{path}: the checkpoint header is incomplete")
    for key, types in TRAIN_STATE.items():
        value = train.get(key)
        if not isinstance(value, types) or isinstance(value, bool) or _negative(value):
            raise ModelFileError(f"{path}: the checkpoint's training state lacks a valid {key!r}")
    if not all(isinstance(record, dict) for record in train["history"]):
        raise ModelFileError(f"{path}: the checkpoint's history holds something not an epoch")
    return header, params, buffers


def _negative(value) -> bool:
    """Whether a position or a time is below zero, or not a finite number."""
    return isinstance(value, int | float) and not 0 <= value < float("inf")


def split_arrays(arrays: dict) -> tuple[dict, dict]:
    """(params without their param/, the optimizer's buffers with their velocity/ or
    average/) of a checkpoint's arrays."""
    from gpunn.optim import STATE_KINDS

    params = {k[len("param/") :]: v for k, v in arrays.items() if k.startswith("param/")}
    buffers = {k: v for k, v in arrays.items() if k.partition("/")[0] in STATE_KINDS}
    return params, buffers


def checkpoint_model(
    path, header: dict, params: dict, buffers: dict, device=None, trained_weights: bool = False
):
    """The checkpoint's network as its run evaluated it: the average of the weights when the
    run kept one (``ema`` > 0), else (or with ``trained_weights``) the weights trained.

    A run with ``ema`` keeps an average of every parameter from its first step on (before
    it, the average is the weights); ModelFileError naming ``path`` when only some of the
    parameters have one, or when a run without ``ema`` left averages.
    """
    from gpunn.serialize import network_from_file

    averages = {
        k.removeprefix("average/"): v for k, v in buffers.items() if k.startswith("average/")
    }
    if averages and not header["train"]["config"].get("ema"):
        raise ModelFileError(
            f"{path}: holds averages of the weights, but its run kept none (ema 0)"
        )
    if averages and set(averages) != set(params):
        missing = ", ".join(sorted(set(params) - set(averages))) or "none"
        extra = ", ".join(sorted(set(averages) - set(params))) or "none"
        raise ModelFileError(
            f"{path}: the averages of the weights do not match its parameters "
            f"(missing: {missing}; not parameters: {extra})"
        )
    chosen = averages if averages and not trained_weights else params
    run_info = header["train"].get("run_info", {})
    return network_from_file(path, {**header, "metadata": run_info}, chosen, device)


def restore_network(path, header: dict, params: dict, buffers: dict, device=None):
    """The checkpoint's network with its parameters, and its TrainConfig, checked to fit.

    ModelFileError naming ``path`` when the header, parameters and optimizer buffers
    (velocities, averages) disagree.
    """
    from gpunn.config import TrainConfig
    from gpunn.optim import split_state_key
    from gpunn.serialize import network_from_config
    from gpunn.tracker import Tracker

    check_parameters(path, {**params, **buffers})  # numbers, finite
    train = header["train"]
    try:
        network = network_from_config(header["network"], device)
        network.load_state(params)
        shapes = {name: v.shape for name, v in network.state().items()}
        for key, v in buffers.items():
            if shapes.get(split_state_key(key)[1]) != v.shape:
                raise ValueError(f"{key} of shape {v.shape} fits no parameter")
            network.device.send_finite(v, network.dtype, key)  # as the optimizer will take it
        config = TrainConfig.from_dict(train["config"]).check()
        Tracker(**train["tracker"]).check()
        check_run_info(train.get("run_info", {}))
    except (KeyError, TypeError, ValueError) as exc:  # ValueError: ShapeError, ConfigError
        raise ModelFileError(f"{path}: not a run gpunn can continue ({exc})") from None
    return network, config


# what a run keeps of its command line (``run_setup.build_run``), each entry optional
RUN_INFO_TYPES = {
    **dict.fromkeys(("preset", "dataset", "init", "input_transform"), str),
    **dict.fromkeys(("train_size", "validation_size", "ensemble", "member"), int),
    "expand": str,
    "outputs": dict,
}
KIND_WORDS = {str: "text", int: "a whole number", dict: "a mapping"}
EXPANSIONS = ("shifts", "distort")
OUTPUTS = ("save", "metrics")


def check_run_info(run_info) -> None:
    """TypeError or ValueError saying what is wrong when a checkpoint's ``run_info`` is not
    what ``run_setup.build_run`` writes (entries of other kinds, unknown outputs)."""
    if not isinstance(run_info, dict):
        raise TypeError("run_info is not a mapping")
    for key, kind in RUN_INFO_TYPES.items():
        value = run_info.get(key)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise TypeError(f"run_info's {key} is not {KIND_WORDS[kind]}: {value!r}")
    if run_info.get("expand") not in (None, *EXPANSIONS):
        raise ValueError(f"run_info's expand is {run_info['expand']!r}, not one of {EXPANSIONS}")
    outputs = run_info.get("outputs") or {}
    if not set(outputs) <= set(OUTPUTS) or not all(
        isinstance(v, str | None) for v in outputs.values()
    ):
        raise TypeError(f"run_info's outputs are not {' and '.join(OUTPUTS)} file names")


def load_latest(directory) -> tuple[Path, dict, dict, dict]:
    """The newest readable checkpoint in ``directory``: (path, header, params, buffers)."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ModelFileError(f"{directory}: is a file, not a checkpoint directory")
    if not directory.is_dir():
        raise ModelFileError(f"{directory}: no such checkpoint directory")
    paths = checkpoint_paths(directory)
    if not paths:
        raise ModelFileError(f"{directory}: holds no checkpoint (ckpt-*.npz)")
    errors = []
    for path in reversed(paths):
        try:
            return (path, *read_checkpoint(path))
        except ModelFileError as exc:
            errors.append(str(exc))
            print(f"gpunn: skipping unreadable checkpoint: {exc}", file=sys.stderr)
    raise ModelFileError(f"{directory}: no readable checkpoint; " + "; ".join(errors))
