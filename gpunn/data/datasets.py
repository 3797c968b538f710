"""Loading MNIST or Fashion-MNIST by name, split as in the book.

Where the files are looked for, in order:

1. ``data_dir`` when it is given -- and then nowhere else;
2. otherwise the folder in the environment variable ``GPUNN_DATA``, then the
   per-user cache ``$XDG_CACHE_HOME/gpunn`` (or ``~/.cache/gpunn``), then system
   folders (Debian's ``/usr/share/datasets/fashion-mnist`` for Fashion-MNIST).

A folder may hold the files directly or in a subfolder named after the dataset
(``mnist/``, ``fashion-mnist/``); a folder named after one dataset is never
taken to hold another directly, since both use the same file names. For MNIST a
folder's IDX files are preferred to ``mnist.pkl.gz``, and that to ``mnist.npz``.

Missing files are downloaded (``download=True``) into the first folder of that
list, in its dataset subfolder unless the folder already holds some of them.

Integrity: every load checks the structure (magic numbers, sizes, exact byte
counts, labels in 0..9). IDX and npz content is also checked against the known
sha256 on every load: about 40 ms against 0.4 s to decompress, and it also tells
MNIST's files apart from Fashion-MNIST's. The book's pickle has no published
checksum and is checked for structure only.
"""

from __future__ import annotations

import operator
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gpunn.data.download import (
    DATASETS,
    DatasetInfo,
    download_missing,
    mismatch_message,
    missing_message,
)
from gpunn.data.idx import idx_sha256
from gpunn.data.sources import (
    IDX_NAMES,
    NPZ_KEYS,
    NPZ_NAME,
    PKL_NAME,
    RawData,
    find_idx_file,
    load_idx_dir,
    load_npz,
    load_pkl,
    probe,
)
from gpunn.errors import ConfigError, DataError

IMAGE_SHAPE = (1, 28, 28)
N_CLASSES = 10
VALIDATION_SIZE = 10000


@dataclass(frozen=True, eq=False)
class Split:
    """Images ``x`` float32 (N, 784) in [0, 1], C-contiguous, and labels ``y`` int64 (N,)."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.x, self.y))


@dataclass(frozen=True, eq=False)
class Dataset:
    """A dataset split in three; ``source`` says which folder or file it was read from."""

    name: str
    train: Split
    validation: Split
    test: Split
    image_shape: tuple[int, int, int] = IMAGE_SHAPE
    n_classes: int = N_CLASSES
    source: str = ""


def cache_dir() -> Path:
    """The per-user cache: ``$XDG_CACHE_HOME/gpunn``, else ``~/.cache/gpunn``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gpunn"


def dataset_info(name: str) -> DatasetInfo:
    """The registry entry for ``name`` ('mnist' or 'fashion-mnist'); ConfigError otherwise."""
    key = str(name).lower().replace("_", "-")
    if key not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}")
    return DATASETS[key]


def candidate_dirs(name: str, data_dir: str | Path | None = None) -> list[Path]:
    """The folders searched for dataset ``name``, in order (see the module docstring)."""
    name = dataset_info(name).name
    if data_dir is not None:
        roots = [(Path(data_dir), True)]
    else:
        env = os.environ.get("GPUNN_DATA", "").strip()  # blank: unset
        roots = ([(Path(env), True)] if env else []) + [(cache_dir(), False)]
    dirs = []
    for root, direct in roots:
        if direct and root.name == name:
            dirs.append(root)  # GPUNN_DATA=.../mnist for mnist
            continue
        dirs.append(root / name)
        if direct and root.name not in DATASETS:  # never .../mnist for fashion-mnist
            dirs.append(root)
    if data_dir is None:
        dirs += [Path(d) for d in DATASETS[name].system_dirs]
    return dirs


def _find(info: DatasetInfo, dirs: list[Path]) -> tuple[str, Path] | None:
    """The first (kind, path) among ``dirs`` holding a complete copy of the dataset."""
    for d in dirs:
        if all(find_idx_file(d, name) for name in IDX_NAMES):
            return "idx", d
        if info.name == "mnist":
            for kind, file_name in (("pkl", PKL_NAME), ("npz", NPZ_NAME)):
                if probe(d / file_name):
                    return kind, d / file_name
    return None


def _download_dir(dirs: list[Path]) -> Path:
    """Where downloads go: the first root itself if it holds some IDX files, else its subfolder."""
    if len(dirs) > 1 and dirs[1] == dirs[0].parent:
        if any(find_idx_file(dirs[1], name) for name in IDX_NAMES):
            return dirs[1]
    return dirs[0]


def _verify(info: DatasetInfo, raw: RawData) -> None:
    """DataError unless each uint8 array has its known sha256 (as an IDX file)."""
    arrays = (raw.x_train, raw.y_train, raw.x_test, raw.y_test)
    for name, key, array in zip(IDX_NAMES, NPZ_KEYS, arrays, strict=True):
        digest = idx_sha256(array)
        if digest != info.sha256[name]:
            if raw.kind == "idx":
                where = find_idx_file(Path(raw.origin), name)
            else:
                where = f"{raw.origin}[{key}]"
            raise DataError(mismatch_message(where, name, info, digest))


def load_raw(
    name: str = "mnist", data_dir: str | Path | None = None, *, download: bool = True
) -> RawData:
    """The dataset as its source holds it (``RawData``), found, fetched and verified as above."""
    info = dataset_info(name)
    if data_dir is not None and probe(Path(data_dir), Path.exists) and not Path(data_dir).is_dir():
        raise DataError(f"{data_dir}: is a file; give the folder that holds the dataset's files")
    dirs = candidate_dirs(info.name, data_dir)
    found = _find(info, dirs)
    if found is None:
        target = _download_dir(dirs)
        missing = [n for n in IDX_NAMES if find_idx_file(target, n) is None]
        if not download:
            searched = ", ".join(map(str, dirs))
            why = f"downloading is off; looked in {searched}"
            raise DataError(missing_message(info, missing, target, why))
        download_missing(info, target, missing)
        found = ("idx", target)
    kind, path = found
    raw = {"idx": load_idx_dir, "pkl": load_pkl, "npz": load_npz}[kind](path)
    if kind != "pkl":
        _verify(info, raw)
    return raw


def _count(what: str, value: object, minimum: int) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{what} must be an integer, not {value!r}")
    try:
        value = operator.index(value)
    except TypeError:
        raise ConfigError(f"{what} must be an integer, not {value!r}") from None
    if value < minimum:
        raise ConfigError(f"{what} must be at least {minimum}, not {value}")
    return value


def _split(x: np.ndarray, y: np.ndarray) -> Split:
    """A Split from source images (uint8 (N, 28, 28) or float (N, 784)) and labels."""
    x = x.reshape(len(x), int(np.prod(x.shape[1:])))
    if x.dtype == np.uint8:
        out = np.empty(x.shape, dtype=np.float32)
        np.divide(x, np.float32(255), out=out)
    else:
        out = np.array(x, dtype=np.float32, order="C")
    return Split(out, np.array(y, dtype=np.int64))


def load(
    name: str = "mnist",
    data_dir: str | Path | None = None,
    *,
    train_size: int | None = None,
    validation_size: int = VALIDATION_SIZE,
    download: bool = True,
) -> Dataset:
    """Load ``name`` ('mnist' or 'fashion-mnist') split as in the book.

    Of the 60,000 training images the first ``60000 - validation_size`` are
    ``train`` (only the first ``train_size`` of them when given) and the last
    ``validation_size`` are ``validation``; ``test`` is the 10,000 test images.
    Each split's ``x`` is float32 (N, 784) in [0, 1], ``y`` int64 (N,).
    """
    info = dataset_info(name)
    validation_size = _count("validation_size", validation_size, minimum=0)
    if train_size is not None:
        train_size = _count("train_size", train_size, minimum=1)
    raw = load_raw(info.name, data_dir, download=download)
    n = len(raw.y_train)
    if validation_size >= n:
        raise ConfigError(
            f"a validation size of {validation_size} leaves none of {n} training images"
        )
    available = n - validation_size
    if train_size is None:
        train_size = available
    elif train_size > available:
        kept = f" left after the last {validation_size} are kept for validation"
        raise ConfigError(
            f"a training size of {train_size} is more than the {available} training images"
            + (kept if validation_size else "")
        )
    return Dataset(
        name=info.name,
        train=_split(raw.x_train[:train_size], raw.y_train[:train_size]),
        validation=_split(raw.x_train[available:], raw.y_train[available:]),
        test=_split(raw.x_test, raw.y_test),
        source=raw.origin,
    )
