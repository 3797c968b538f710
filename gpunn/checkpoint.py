"""Training checkpoints: the whole state of a run in one .npz, written atomically.

A checkpoint holds the network's parameters (``param/…``), the optimiser's velocities
(``velocity/…``) and a JSON header with the network config, the training config, the
position in training (epoch, batch, step), the tracker (η schedule, best accuracy,
early-stopping counters) and the metrics so far. Random state needs no saving: the
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
from gpunn.serialize import read_npz, write_npz

CHECKPOINT_FORMAT = "gpunn-checkpoint"
CHECKPOINT_FORMAT_VERSION = 1


def checkpoint_paths(directory) -> list[Path]:
    """Checkpoint files in ``directory``, oldest first."""
    return sorted(Path(directory).glob("ckpt-*.npz"))


def save_checkpoint(directory, network, optimizer, train_state: dict, keep: int = 3) -> Path:
    """Write one checkpoint into ``directory`` and prune all but the newest ``keep``."""
    from gpunn import __version__

    directory = Path(directory)
    name = f"ckpt-{train_state['epoch']:04d}-{train_state['batch']:06d}.npz"
    arrays = {f"param/{k}": v for k, v in network.state().items()}
    arrays.update({f"velocity/{k}": v for k, v in optimizer.state().items()})
    header = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "gpunn_version": __version__,
        "network": network.config(),
        "train": train_state,
    }
    path = directory / name
    write_npz(path, arrays, header)
    for old in checkpoint_paths(directory)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def read_checkpoint(path) -> tuple[dict, dict, dict]:
    """(header, params, velocities) of one checkpoint file."""
    header, arrays = read_npz(path, CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_VERSION)
    params = {k[6:]: v for k, v in arrays.items() if k.startswith("param/")}
    velocities = {k[9:]: v for k, v in arrays.items() if k.startswith("velocity/")}
    if "train" not in header or "network" not in header:
        raise ModelFileError(f"{path}: the checkpoint header is incomplete")
    return header, params, velocities


def load_latest(directory) -> tuple[Path, dict, dict, dict]:
    """The newest readable checkpoint in ``directory``: (path, header, params, velocities)."""
    directory = Path(directory)
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
