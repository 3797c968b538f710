"""The three forms MNIST comes in, each read into the same ``RawData``.

- a folder of the four IDX files (MNIST and Fashion-MNIST), gzip or raw;
- the book's ``mnist.pkl.gz``: a Python 2 pickle of ``(train, validation, test)``
  pairs, images float32 (N, 784) in [0, 1], labels int64 (N,). It is read with an
  unpickler that can build NumPy arrays and nothing else;
- keras' ``mnist.npz`` (``x_train``, ``y_train``, ``x_test``, ``y_test``), read
  without pickle.

Each checks shapes, dtypes, ranges and that images and labels agree in number,
raising ``DataError`` naming the file.
"""

from __future__ import annotations

import codecs
import io
import os
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gpunn.data.idx import IMAGE_SIZE, N_CLASSES, read_bytes, read_idx_pair
from gpunn.errors import DataError

IDX_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
PKL_NAME = "mnist.pkl.gz"
NPZ_NAME = "mnist.npz"
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


@dataclass(frozen=True, eq=False)
class RawData:
    """Training and test data as the source holds it.

    ``x_*``: uint8 (N, 28, 28) from IDX and npz, float32 (N, 784) in [0, 1] from the
    pickle; ``y_*``: integer labels (N,) in 0..9. ``origin`` says where it came from.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    origin: str
    kind: str  # 'idx', 'pkl' or 'npz'


def find_idx_file(directory: Path, name: str) -> Path | None:
    """``directory/name.gz`` or else ``directory/name`` where one is a file, else None."""
    for candidate in (directory / f"{name}.gz", directory / name):
        if probe(candidate):
            return candidate
    return None


def probe(path: Path, test=None) -> bool:
    """``test(path)`` (None: ``path.is_file()``); DataError, not PermissionError, when the
    folders on the way to it may not be searched."""
    try:
        return path.is_file() if test is None else test(path)
    except OSError as exc:
        why = exc.strerror or str(exc)
        raise DataError(f"{_closed_folder(path)}: cannot look inside it ({why})") from None


def _closed_folder(path: Path) -> Path:
    """The first folder on the way to ``path`` that this process may not list or enter
    (``path``'s own folder when none says so: root passes every access test)."""
    for folder in reversed([path.parent, *path.parent.parents]):  # from the root down
        try:
            if folder.is_dir() and not os.access(folder, os.R_OK | os.X_OK):
                return folder
        except OSError:  # its own folder may not be entered
            return folder.parent
    return path.parent


def load_idx_dir(directory: str | Path) -> RawData:
    """The four IDX files in ``directory``: uint8 images (N, 28, 28), labels (N,)."""
    directory = Path(directory)
    paths = [find_idx_file(directory, name) for name in IDX_NAMES]
    missing = [name for name, path in zip(IDX_NAMES, paths, strict=True) if path is None]
    if missing:
        raise DataError(f"{directory}: missing {', '.join(missing)} (.gz or raw)")
    x_train, y_train = read_idx_pair(paths[0], paths[1])
    x_test, y_test = read_idx_pair(paths[2], paths[3])
    return RawData(x_train, y_train, x_test, y_test, str(directory), "idx")


def _check(origin: object, what: str, x: object, y: object) -> None:
    """Raise DataError unless ``x`` are images and ``y`` labels of the same count."""
    if not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray):
        raise DataError(f"{origin}: {what} is not a pair of NumPy arrays")
    flat = x.ndim == 2 and x.shape[1] == IMAGE_SIZE[0] * IMAGE_SIZE[1]
    if x.dtype == np.uint8 and x.shape[1:] == IMAGE_SIZE:
        pass
    elif flat and x.dtype.kind == "f":
        if x.size and not (x.min() >= 0.0 and x.max() <= 1.0):  # also refuses NaN
            raise DataError(f"{origin}: {what} images are not all in [0, 1]")
    else:
        raise DataError(
            f"{origin}: {what} images are {x.dtype} {x.shape}, "
            "expected uint8 (N, 28, 28) or float (N, 784)"
        )
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise DataError(f"{origin}: {what} labels are {y.dtype} {y.shape}, expected integers (N,)")
    if len(x) != len(y):
        raise DataError(f"{origin}: {what} has {len(x)} images but {len(y)} labels")
    if y.size and (y.min() < 0 or y.max() >= N_CLASSES):
        raise DataError(f"{origin}: {what} labels are not all in 0..{N_CLASSES - 1}")


def _numpy_reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # NumPy < 2
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


# The globals a pickle of NumPy arrays needs (``_codecs.encode`` builds bytes
# under protocol 2); any other one is refused, so no arbitrary code can run.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class NumpyUnpickler(pickle.Unpickler):
    """An unpickler that builds NumPy arrays and refuses every other global."""

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        if name == "_reconstruct":
            return _numpy_reconstruct()
        return {"ndarray": np.ndarray, "dtype": np.dtype, "encode": codecs.encode}[name]


def load_pkl(path: str | Path) -> RawData:
    """The book's ``mnist.pkl.gz``: float32 images (60000, 784), train then validation; test."""
    data = read_bytes(path)
    try:
        parts = NumpyUnpickler(io.BytesIO(data), encoding="latin1").load()
    except DataError:
        raise
    except Exception as exc:  # a corrupt pickle can raise nearly anything
        raise DataError(f"{path}: not a pickle of NumPy arrays: {exc}") from exc
    if not (isinstance(parts, tuple) and len(parts) == 3):
        raise DataError(f"{path}: expected a tuple (train, validation, test)")
    for what, part in zip(("train", "validation", "test"), parts, strict=True):
        if not (isinstance(part, tuple) and len(part) == 2):
            raise DataError(f"{path}: {what} is not an (images, labels) pair")
        _check(path, what, *part)
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = parts
    if x_train.ndim != 2 or x_val.ndim != 2 or x_test.ndim != 2:
        raise DataError(f"{path}: expected flat (N, 784) images in every split")
    x_train = np.concatenate([x_train, x_val]).astype(np.float32, copy=False)
    y_train = np.concatenate([y_train, y_val])
    return RawData(
        x_train, y_train, x_test.astype(np.float32, copy=False), y_test, str(path), "pkl"
    )


def load_npz(path: str | Path) -> RawData:
    """Keras' ``mnist.npz``: uint8 images (N, 28, 28) and labels (N,), read without pickle."""
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"PK\x03\x04":  # else NumPy reads it as a pickle, and refuses so
                raise DataError(f"{path}: not an .npz archive (a zip of .npy arrays)")
        with np.load(path, allow_pickle=False) as npz:
            missing = [key for key in NPZ_KEYS if key not in npz.files]
            if missing:
                raise DataError(f"{path}: missing arrays {', '.join(missing)}")
            arrays = [npz[key] for key in NPZ_KEYS]
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable .npz file: {exc}") from exc
    _check(path, "train", arrays[0], arrays[1])
    _check(path, "test", arrays[2], arrays[3])
    if arrays[0].dtype != np.uint8 or arrays[2].dtype != np.uint8:
        raise DataError(f"{path}: images must be uint8 (N, 28, 28)")
    return RawData(*arrays, origin=str(path), kind="npz")
