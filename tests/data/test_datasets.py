"""gpunn.data.load: where files are found, how they are split, checked and fetched."""

import dataclasses
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from gpunn.data import Dataset, cache_dir, candidate_dirs, load
from gpunn.data.download import DATASETS
from gpunn.errors import ConfigError, DataError


def patch_info(monkeypatch, name, **changes):
    monkeypatch.setitem(DATASETS, name, dataclasses.replace(DATASETS[name], **changes))


def test_load_splits_as_the_book(idx, tmp_path, fakes):
    idx.dataset(tmp_path, fakes["mnist"])
    ds = load("mnist", tmp_path, validation_size=10)
    assert isinstance(ds, Dataset) and ds.name == "mnist" and ds.source == str(tmp_path)
    assert ds.image_shape == (1, 28, 28) and ds.n_classes == 10
    x_train, y_train, x_test, y_test = fakes["mnist"]
    for split, x, y in (
        (ds.train, x_train[:20], y_train[:20]),
        (ds.validation, x_train[20:], y_train[20:]),
        (ds.test, x_test, y_test),
    ):
        assert split.x.dtype == np.float32 and split.x.flags.c_contiguous
        assert split.y.dtype == np.int64 and split.x.shape == (len(y), 784)
        np.testing.assert_allclose(split.x, x.reshape(len(x), 784) / 255.0, rtol=1e-6)
        np.testing.assert_array_equal(split.y, y)
    x, y = ds.train
    assert len(ds.train) == 20 and x is ds.train.x and y is ds.train.y


def test_train_and_validation_sizes(idx, tmp_path, fakes):
    idx.dataset(tmp_path, fakes["mnist"])
    ds = load("mnist", tmp_path, train_size=5, validation_size=10)
    assert len(ds.train) == 5 and len(ds.validation) == 10
    np.testing.assert_array_equal(ds.train.y, fakes["mnist"][1][:5])
    ds = load("mnist", tmp_path, validation_size=0)
    assert len(ds.train) == 30 and ds.validation.x.shape == (0, 784)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"train_size": 0}, "train_size must be at least 1"),
        ({"train_size": -3}, "train_size must be at least 1"),
        ({"train_size": 2.5}, "train_size must be an integer"),
        ({"train_size": True}, "train_size must be an integer"),
        ({"validation_size": -1}, "validation_size must be at least 0"),
        ({"validation_size": 30}, "leaves none of 30"),
        ({"train_size": 21, "validation_size": 10}, "more than the 20 training images"),
    ],
)
def test_bad_sizes(idx, tmp_path, fakes, kwargs, message):
    idx.dataset(tmp_path, fakes["mnist"])
    with pytest.raises(ConfigError, match=message):
        load("mnist", tmp_path, **{"validation_size": 10, **kwargs})


def test_unknown_name():
    with pytest.raises(ConfigError, match="unknown dataset 'cifar'"):
        load("cifar")


def test_precedence(idx, tmp_path, monkeypatch, fakes):
    explicit, env = tmp_path / "explicit", tmp_path / "env"
    for d in (explicit, env, cache_dir() / "mnist"):
        idx.dataset(d, fakes["mnist"])
    monkeypatch.setenv("GPUNN_DATA", str(env))
    assert load("mnist", explicit, validation_size=10).source == str(explicit)
    assert load("mnist", validation_size=10).source == str(env)
    monkeypatch.delenv("GPUNN_DATA")
    assert load("mnist", validation_size=10).source == str(cache_dir() / "mnist")
    assert cache_dir() == tmp_path / "cache" / "gpunn"


def test_data_dir_may_be_a_parent(idx, tmp_path, monkeypatch, fakes):
    idx.dataset(tmp_path / "data" / "mnist", fakes["mnist"])
    idx.dataset(tmp_path / "data" / "fashion-mnist", fakes["fashion-mnist"])
    monkeypatch.setenv("GPUNN_DATA", str(tmp_path / "data"))
    assert load("mnist", validation_size=10).source == str(tmp_path / "data" / "mnist")
    assert load("fashion-mnist", validation_size=10).source == str(
        tmp_path / "data" / "fashion-mnist"
    )
    # pointing at the dataset's own folder works too, and is not taken for the other one
    monkeypatch.setenv("GPUNN_DATA", str(tmp_path / "data" / "mnist"))
    assert load("mnist", validation_size=10).source == str(tmp_path / "data" / "mnist")
    assert tmp_path / "data" / "mnist" not in candidate_dirs("fashion-mnist")


def test_fashion_found_in_system_dir_without_flags(idx, tmp_path, monkeypatch, fakes):
    system = idx.dataset(tmp_path / "system", fakes["fashion-mnist"])
    idx.dataset(tmp_path / "data" / "mnist", fakes["mnist"])
    monkeypatch.setenv("GPUNN_DATA", str(tmp_path / "data" / "mnist"))
    ds = load("fashion-mnist", download=False, validation_size=10)
    assert ds.source == str(system) and ds.name == "fashion-mnist"
    assert str(system) in DATASETS["fashion-mnist"].system_dirs


def test_other_datasets_files_are_refused(idx, tmp_path, fakes):
    idx.dataset(tmp_path, fakes["fashion-mnist"])
    with pytest.raises(DataError, match="it is fashion-mnist/train-images-idx3-ubyte") as info:
        load("mnist", tmp_path, validation_size=10)
    assert str(tmp_path / "train-images-idx3-ubyte.gz") in str(info.value)


def test_mnist_prefers_idx_then_pkl_then_npz(idx, tmp_path, fakes):
    x_train, y_train, x_test, y_test = fakes["mnist"]
    np.savez(tmp_path / "mnist.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    assert load("mnist", tmp_path, validation_size=10).source == str(tmp_path / "mnist.npz")
    flat = (x_train.reshape(-1, 784) / 256).astype(np.float32)
    parts = ((flat[:20], y_train[:20]), (flat[20:], y_train[20:]), (flat[:10], y_test))
    (tmp_path / "mnist.pkl.gz").write_bytes(pickle.dumps(parts))  # raw, not gzip: also fine
    ds = load("mnist", tmp_path, validation_size=10)
    assert ds.source == str(tmp_path / "mnist.pkl.gz")
    np.testing.assert_array_equal(ds.validation.x, flat[20:])
    idx.dataset(tmp_path, fakes["mnist"])
    assert load("mnist", tmp_path, validation_size=10).source == str(tmp_path)


def test_npz_content_is_checked(idx, tmp_path, fakes):
    x_train, y_train, x_test, y_test = fakes["mnist"]
    y_test = (y_test + 1) % 10
    np.savez(tmp_path / "mnist.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    with pytest.raises(DataError, match=r"mnist.npz\[y_test\]: sha256"):
        load("mnist", tmp_path, validation_size=10)


def test_offline_error_lists_missing_files(isolated):
    with pytest.raises(DataError) as info:
        load("mnist", validation_size=10)
    message = str(info.value)
    target = cache_dir() / "mnist"
    for name in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", str(target)):
        assert name in message
    assert "GPUNN_DATA" in message and "--data-dir" in message and "no network" in message
    mirrors = DATASETS["mnist"].mirrors
    assert isolated == [f"{m}train-images-idx3-ubyte.gz" for m in mirrors]
    assert not target.parent.parent.exists()  # no partial file, nor the folders made for them


def test_no_download_when_switched_off(tmp_path, fakes, isolated):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "train-images-idx3-ubyte.gz").write_bytes(b"")
    with pytest.raises(DataError, match="missing train-labels-idx1-ubyte.gz, t10k-images"):
        load("mnist", tmp_path / "d", download=False, validation_size=10)
    assert isolated == []


def test_download(tmp_path, fakes, isolated):
    ds = load("fashion-mnist", validation_size=10)
    target = cache_dir() / "fashion-mnist"
    assert ds.source == str(target)
    assert sorted(p.name for p in target.iterdir()) == sorted(
        f"{n}.gz" for n in DATASETS["mnist"].sha256
    )
    np.testing.assert_array_equal(ds.test.y, fakes["fashion-mnist"][3])
    assert len(isolated) == 4
    umask = os.umask(0)
    os.umask(umask)
    assert {p.stat().st_mode & 0o777 for p in target.iterdir()} == {0o666 & ~umask}
    load("fashion-mnist", validation_size=10)  # now from the cache, nothing fetched
    assert len(isolated) == 4


def test_download_fetches_only_missing_files_into_data_dir(idx, tmp_path, fakes, isolated):
    d = idx.dataset(tmp_path / "d", fakes["mnist"])
    (d / "t10k-images-idx3-ubyte.gz").unlink()
    assert load("mnist", d, validation_size=10).source == str(d)
    assert [url.rsplit("/", 1)[1] for url in isolated] == ["t10k-images-idx3-ubyte.gz"]


def test_download_checksum_mismatch_keeps_no_file(tmp_path, fakes, monkeypatch):
    sha = dict(DATASETS["mnist"].sha256, **{"train-labels-idx1-ubyte": "0" * 64})
    patch_info(monkeypatch, "mnist", sha256=sha)
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz: no mirror gave a valid") as e:
        load("mnist", validation_size=10)
    assert "sha256" in str(e.value)
    assert sorted(p.name for p in (cache_dir() / "mnist").iterdir()) == [
        "train-images-idx3-ubyte.gz"
    ]


def test_download_tries_the_next_mirror(tmp_path, fakes, isolated, monkeypatch):
    mirrors = ("https://example.invalid/",) + DATASETS["mnist"].mirrors
    patch_info(monkeypatch, "mnist", mirrors=mirrors)
    assert load("mnist", validation_size=10).source == str(cache_dir() / "mnist")
    assert len(isolated) == 8


def test_a_truncated_download_is_named_by_its_url(tmp_path, fakes):
    mirror = tmp_path / "mirror" / "mnist" / "train-labels-idx1-ubyte.gz"
    mirror.write_bytes(mirror.read_bytes()[:20])
    with pytest.raises(DataError, match="corrupt or truncated gzip") as e:
        load("mnist", validation_size=10)
    assert mirror.as_uri() in str(e.value) and ".part" not in str(e.value)


def test_a_data_folder_that_may_not_be_searched_is_one_data_error(tmp_path, monkeypatch):
    """As for a user without read and search rights on it (root has them whatever the mode)."""
    locked = tmp_path / "locked"
    (locked / "mnist").mkdir(parents=True)
    is_file, access = Path.is_file, os.access

    def refuse(path):
        if locked in path.parents:
            raise PermissionError(13, "Permission denied", str(path))
        return is_file(path)

    monkeypatch.setattr(Path, "is_file", refuse)
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != locked and access(p, mode))
    with pytest.raises(DataError, match=r"locked: cannot look inside it \(Permission denied"):
        load("mnist", locked, download=False, validation_size=10)


def test_a_failed_download_into_a_new_data_dir_leaves_no_folders(tmp_path, isolated):
    with pytest.raises(DataError, match="no network"):
        load("mnist", tmp_path / "new" / "sub", validation_size=10)
    assert not (tmp_path / "new").exists()


def test_a_blank_gpunn_data_counts_as_unset(monkeypatch, isolated):
    monkeypatch.setenv("GPUNN_DATA", " ")
    assert candidate_dirs("mnist")[0] == cache_dir() / "mnist"


def test_a_data_dir_that_is_a_file_is_named_so(tmp_path, isolated):
    (tmp_path / "mnist.pkl.gz").write_bytes(b"x")
    with pytest.raises(DataError, match="mnist.pkl.gz: is a file; give the folder that holds"):
        load("mnist", tmp_path / "mnist.pkl.gz", validation_size=10)
    assert isolated == []
