"""Model files: one .npz holding every parameter plus a JSON header, read without pickle.

Layout: arrays named ``layer{i}/{w,b}`` and a 0-d unicode array ``__gpunn__`` with
JSON ``{"format": "gpunn-model", "format_version": 1, "gpunn_version", "network":
Network.config(), "metadata": {...}}``. Files are written atomically (temporary file
in the same folder, fsync, rename), so a failed save never damages an existing file.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from gpunn.errors import GpunnError, ModelFileError
from gpunn.files import atomic_write_bytes

MODEL_FORMAT = "gpunn-model"
MODEL_FORMAT_VERSION = 1
HEADER_KEY = "__gpunn__"
ZIP_MAGIC = b"PK\x03\x04"  # every .npz starts with a zip local file header


def write_npz(path, arrays: dict[str, np.ndarray], header: dict) -> None:
    """Atomically write ``arrays`` and the JSON ``header`` as one .npz file."""
    buf = io.BytesIO()
    np.savez(buf, **arrays, **{HEADER_KEY: np.array(json.dumps(header))})
    atomic_write_bytes(path, buf.getvalue())


def read_npz(path, formats: dict[str, int]) -> tuple[dict, dict]:
    """(header, arrays) from a file written by ``write_npz`` in one of ``formats`` (name →
    newest version read); ModelFileError if it is not one."""
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"{path}: no such file")
    if not path.is_file():
        raise ModelFileError(f"{path}: is not a file")
    try:
        with open(path, "rb") as f:
            magic = f.read(len(ZIP_MAGIC))
            f.seek(0)
            if magic != ZIP_MAGIC:  # np.load would take a .npy or a pickle, or blame pickling
                what = "it is empty" if not magic else "not an .npz archive"
                raise ModelFileError(f"{path}: not a gpunn file ({what})")
            with np.load(f, allow_pickle=False) as npz:
                if HEADER_KEY not in npz.files:
                    raise ModelFileError(f"{path}: not a gpunn file (no {HEADER_KEY} header)")
                header = json.loads(str(npz[HEADER_KEY]))
                arrays = {k: npz[k] for k in npz.files if k != HEADER_KEY}
    except GpunnError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise ModelFileError(f"{path}: cannot be read as a gpunn file ({exc})") from None
    except RecursionError:  # JSON nested deeper than Python's stack
        raise ModelFileError(f"{path}: its header is nested too deeply to read") from None
    found = header.get("format") if isinstance(header, dict) else None
    if not isinstance(found, str) or found not in formats:
        wanted = " or ".join(repr(f) for f in formats)
        raise ModelFileError(f"{path}: is a {found!r} file, not a {wanted} file")
    max_version, version = formats[found], header.get("format_version")
    if type(version) is int and version > max_version:
        raise ModelFileError(
            f"{path}: format version {version} was written by a newer gpunn "
            f"(this one reads versions 1 to {max_version}); upgrade gpunn"
        )
    if type(version) is not int or version < 1:  # bool is an int, but no version
        raise ModelFileError(f"{path}: format version {version!r} is not a valid version")
    return header, arrays


def metadata_to_write(metadata) -> dict:
    """``metadata`` (None: {}) if it is a JSON object, as files keep it; ConfigError else,
    before anything is written."""
    from gpunn.errors import ConfigError

    metadata = {} if metadata is None else metadata
    if not isinstance(metadata, dict):
        raise ConfigError(f"metadata must be a dict (a JSON object), got {type(metadata).__name__}")
    try:
        json.dumps(metadata, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"metadata must hold JSON values only ({exc})") from None
    return metadata


def save_network(network, path, metadata: dict | None = None) -> None:
    from gpunn import __version__

    header = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "gpunn_version": __version__,
        "network": network.config(),
        "metadata": metadata_to_write(metadata),
    }
    write_npz(path, network.state(), header)


def network_from_config(config: dict, device=None):
    """An (untrained) Network built from ``Network.config()``."""
    from gpunn.layers import layer_from_config
    from gpunn.network import Network

    layers = [layer_from_config(c) for c in config["layers"]]
    return Network(
        layers,
        config["cost"],
        input_shape=tuple(config["input_shape"]),
        device=device,
        dtype=config.get("dtype", "float32"),
        seed=config.get("seed", 0),
        input_transform=config.get("input_transform"),
    )


def load_network(path, device=None):
    """The network saved at ``path``, on ``device``; its metadata as ``network.metadata``."""
    header, arrays = read_npz(path, {MODEL_FORMAT: MODEL_FORMAT_VERSION})
    return network_from_file(path, header, arrays, device)


def load_model(path, device=None, trained_weights: bool = False):
    """The Network or the Ensemble saved at ``path``, on ``device``; from a training
    checkpoint, the network as it was then: with the average of its weights if the run kept
    one (``--ema``, what its epochs reported), else (or with ``trained_weights``) the
    weights trained."""
    from gpunn.checkpoint import (
        CHECKPOINT_FORMAT,
        CHECKPOINT_FORMAT_VERSION,
        checked_checkpoint,
        checkpoint_model,
    )
    from gpunn.ensemble import ENSEMBLE_FORMAT, ENSEMBLE_FORMAT_VERSION, Ensemble

    formats = {
        MODEL_FORMAT: MODEL_FORMAT_VERSION,
        ENSEMBLE_FORMAT: ENSEMBLE_FORMAT_VERSION,
        CHECKPOINT_FORMAT: CHECKPOINT_FORMAT_VERSION,
    }
    header, arrays = read_npz(path, formats)
    if header["format"] == CHECKPOINT_FORMAT:  # parameters under param/, beside velocities
        header, params, buffers = checked_checkpoint(path, header, arrays)
        return checkpoint_model(path, header, params, buffers, device, trained_weights)
    if header["format"] == ENSEMBLE_FORMAT:
        model = Ensemble.from_file(path, header, arrays, device)
    else:
        model = network_from_file(path, header, arrays, device)
    train = model.metadata.get("train")
    if trained_weights and isinstance(train, dict) and train.get("ema"):
        raise ModelFileError(
            f"{path}: holds the average of its run's weights (--ema), not the weights trained; "
            f"those are in the run's checkpoints (gpunn evaluate CHECKPOINT --trained-weights)"
        )
    return model


def check_parameters(path, arrays: dict) -> None:
    """ModelFileError naming ``path`` and the array when a parameter is not real numbers
    (complex, text) or holds NaN or infinity."""
    for name, v in arrays.items():
        if v.dtype.kind not in "biuf":
            raise ModelFileError(f"{path}: {name} holds {v.dtype} values, not real numbers")
        if v.dtype.kind == "f" and not np.isfinite(v).all():
            raise ModelFileError(f"{path}: {name} holds NaN or infinite values")


def network_from_file(path, header: dict, arrays: dict, device=None):
    """The network of a model file's ``header`` and ``arrays`` (see ``read_npz``)."""
    check_parameters(path, arrays)
    try:
        network = network_from_config(header["network"], device)
        network.load_state(arrays)
    except (KeyError, TypeError) as exc:
        raise ModelFileError(f"{path}: the model description is incomplete ({exc})") from None
    except ValueError as exc:  # ShapeError, ConfigError, or arrays that are not numbers
        raise ModelFileError(f"{path}: {exc}") from None
    network.metadata = checked_metadata(path, header.get("metadata", {}))
    return network


def checked_metadata(path, metadata) -> dict:
    """``metadata`` if it is a JSON object, else ModelFileError naming ``path``."""
    if not isinstance(metadata, dict):
        raise ModelFileError(f"{path}: its metadata is not a JSON object")
    return metadata
