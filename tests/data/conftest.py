"""Fixtures for the data tests: small IDX files written on the spot, and no network.

Every test runs with ``GPUNN_DATA`` unset, the cache in a temporary folder and
``urlopen`` allowed only ``file://`` URLs. ``idx`` hands the helpers to the
tests; ``fakes`` registers small made-up datasets (their checksums, a local
mirror) under the real names.
"""

import dataclasses
import gzip
import hashlib
import struct
import urllib.error
import urllib.request
from types import SimpleNamespace

import numpy as np
import pytest

from gpunn.data import download
from gpunn.data.sources import IDX_NAMES

N_TRAIN, N_TEST = 30, 10


def idx_bytes(array, magic=None):
    """``array`` (uint8) as an IDX file, written out with struct here, not by gpunn."""
    array = np.asarray(array, dtype=np.uint8)
    magic = 0x800 | array.ndim if magic is None else magic
    return struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.tobytes()


def write_idx(path, array, compress=None, magic=None):
    """Write ``array`` as IDX to ``path``, gzipped if ``compress`` (default: if named .gz)."""
    data = idx_bytes(array, magic)
    compress = path.name.endswith(".gz") if compress is None else compress
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def make_arrays(seed):
    """Made-up train and test arrays, as IDX would hold them, in IDX_NAMES order."""
    rng = np.random.default_rng(seed)
    return [
        rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, N_TRAIN, dtype=np.uint8),
        rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, N_TEST, dtype=np.uint8),
    ]


def write_dataset(directory, arrays, compress=True):
    """The four IDX files of ``arrays`` in ``directory`` (created), .gz or raw."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, array in zip(IDX_NAMES, arrays, strict=True):
        write_idx(directory / (f"{name}.gz" if compress else name), array)
    return directory


@pytest.fixture
def idx():
    """The helpers above, for test modules (which cannot import conftest)."""
    return SimpleNamespace(
        bytes=idx_bytes, write=write_idx, arrays=make_arrays, dataset=write_dataset
    )


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No GPUNN_DATA, a private cache, and only file:// URLs can be opened."""
    monkeypatch.delenv("GPUNN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    opened = []

    def local_only(url, timeout=None):
        opened.append(url)
        if not url.startswith("file://"):
            raise urllib.error.URLError("no network in tests")
        return urllib.request.urlopen(url, timeout=timeout)

    monkeypatch.setattr(download, "urlopen", local_only)
    return opened


@pytest.fixture
def fakes(tmp_path, monkeypatch):
    """Small made-up 'mnist' and 'fashion-mnist' registered in place of the real ones.

    Returns {name: arrays}; each has a file:// mirror under tmp_path/mirror/<name>/
    and fashion-mnist a system folder tmp_path/system (empty at first).
    """
    arrays = {"mnist": make_arrays(1), "fashion-mnist": make_arrays(2)}
    for name, arrs in arrays.items():
        mirror = write_dataset(tmp_path / "mirror" / name, arrs)
        digests = [hashlib.sha256(idx_bytes(a)).hexdigest() for a in arrs]
        info = dataclasses.replace(
            download.DATASETS[name],
            mirrors=(mirror.as_uri() + "/",),
            sha256=dict(zip(IDX_NAMES, digests, strict=True)),
            system_dirs=(str(tmp_path / "system"),) if name == "fashion-mnist" else (),
        )
        monkeypatch.setitem(download.DATASETS, name, info)
    return arrays
