"""gpunn.data.sources: the IDX folder, the book's mnist.pkl.gz and keras' mnist.npz."""

import collections
import gzip
import os
import pickle
import struct

import numpy as np
import pytest

from gpunn.data.sources import IDX_NAMES, load_idx_dir, load_npz, load_pkl
from gpunn.errors import DataError


def test_idx_dir_accepts_raw_and_gz_names(idx, tmp_path):
    arrays = idx.arrays(0)
    idx.dataset(tmp_path, arrays, compress=False)
    (tmp_path / IDX_NAMES[0]).rename(tmp_path / f"{IDX_NAMES[0]}.gz")  # raw bytes, .gz name
    raw = load_idx_dir(tmp_path)
    assert raw.kind == "idx" and raw.origin == str(tmp_path)
    for got, want in zip((raw.x_train, raw.y_train, raw.x_test, raw.y_test), arrays, strict=True):
        np.testing.assert_array_equal(got, want)


def test_idx_dir_names_missing_files(idx, tmp_path):
    idx.dataset(tmp_path, idx.arrays(0))
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="missing t10k-labels-idx1-ubyte"):
        load_idx_dir(tmp_path)


class Py2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 ``str`` and NumPy's globals by their Python 2 names,
    as in the book's mnist.pkl.gz, so that loading needs encoding='latin1'."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_bytes(self, obj):
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes

    def save_global(self, obj, name=None):
        module = obj.__module__.replace("numpy._core", "numpy.core")
        self.write(pickle.GLOBAL + f"{module}\n{name or obj.__qualname__}\n".encode())
        self.memoize(obj)

    dispatch[type] = save_global


def book_parts(rng, n=(20, 10, 10)):
    """(train, validation, test) as the book's pickle holds them."""

    def part(count):
        x = (rng.integers(0, 256, (count, 784)) / 256).astype(np.float32)
        return x, rng.integers(0, 10, count).astype(np.int64)

    return tuple(part(count) for count in n)


def write_pkl(path, obj, py2=True):
    with gzip.open(path, "wb") as f:
        if py2:
            Py2Pickler(f, protocol=2).dump(obj)
        else:
            pickle.dump(obj, f, protocol=4)
    return path


@pytest.mark.parametrize("py2", [True, False])
def test_pkl_loads(tmp_path, rng, py2):
    parts = book_parts(rng)
    data = gzip.decompress(write_pkl(tmp_path / "mnist.pkl.gz", parts, py2).read_bytes())
    assert b"numpy.core.multiarray" in data or not py2
    raw = load_pkl(tmp_path / "mnist.pkl.gz")
    assert raw.kind == "pkl" and raw.x_train.dtype == np.float32
    np.testing.assert_array_equal(raw.x_train, np.concatenate([parts[0][0], parts[1][0]]))
    np.testing.assert_array_equal(raw.y_train, np.concatenate([parts[0][1], parts[1][1]]))
    np.testing.assert_array_equal(raw.x_test, parts[2][0])
    np.testing.assert_array_equal(raw.y_test, parts[2][1])


class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("payload", ["system", "class"])
def test_pkl_refuses_other_globals(tmp_path, rng, payload):
    marker = tmp_path / "pwned"
    parts = list(book_parts(rng))
    parts[2] = Evil(marker) if payload == "system" else collections.OrderedDict(a=1)
    path = write_pkl(tmp_path / "mnist.pkl.gz", tuple(parts), py2=False)
    with pytest.raises(DataError, match="refusing to load global") as info:
        load_pkl(path)
    assert str(path) in str(info.value)
    assert not marker.exists()


def test_pkl_checks_structure(tmp_path, rng):
    train, validation, test = book_parts(rng)
    path = tmp_path / "mnist.pkl.gz"
    write_pkl(path, (train, validation))
    with pytest.raises(DataError, match="tuple"):
        load_pkl(path)
    write_pkl(path, (train, validation, (test[0] * 2, test[1])))
    with pytest.raises(DataError, match=r"test images are not all in \[0, 1\]"):
        load_pkl(path)
    write_pkl(path, (train, validation, (test[0], test[1][:5])))
    with pytest.raises(DataError, match="10 images but 5 labels"):
        load_pkl(path)
    path.write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="not a pickle"):
        load_pkl(path)


def _npz_arrays(idx):
    return dict(zip(("x_train", "y_train", "x_test", "y_test"), idx.arrays(3), strict=True))


def test_npz_loads(idx, tmp_path):
    arrays = _npz_arrays(idx)
    np.savez(tmp_path / "mnist.npz", **arrays)
    raw = load_npz(tmp_path / "mnist.npz")
    assert raw.kind == "npz"
    np.testing.assert_array_equal(raw.x_train, arrays["x_train"])
    np.testing.assert_array_equal(raw.y_test, arrays["y_test"])


def test_npz_refuses_missing_keys_objects_and_junk(idx, tmp_path):
    path = tmp_path / "mnist.npz"
    arrays = _npz_arrays(idx)
    np.savez(path, **{k: v for k, v in arrays.items() if k != "y_test"})
    with pytest.raises(DataError, match="missing arrays y_test"):
        load_npz(path)
    np.savez(path, **{**arrays, "y_test": np.array([1, "a"], dtype=object)})
    with pytest.raises(DataError, match="not a readable"):
        load_npz(path)
    np.savez(path, **{**arrays, "x_test": arrays["x_test"].astype(np.float32)})
    with pytest.raises(DataError, match="test images"):
        load_npz(path)
    for junk in (b"junk", b"x_train = [0, 1]\n" * 40):  # short, and long enough for a pickle
        path.write_bytes(junk)
        with pytest.raises(DataError, match="mnist.npz: not an .npz archive") as info:
            load_npz(path)
        assert "pickle" not in str(info.value)
