"""Model files: exact round trips, atomic writes, and one clear error for anything else.

``tests.faults.MALFORMED`` is the list of broken and foreign files tried: each must give
ModelFileError naming the file from the API, and from ``gpunn evaluate`` exit 2 with one
line on stderr, before any data is loaded.
"""

import os

import numpy as np
import pytest

from gpunn import files, serialize
from gpunn.checkpoint import read_checkpoint
from gpunn.cli import main
from gpunn.ensemble import Ensemble
from gpunn.errors import ConfigError, ModelFileError, ShapeError
from gpunn.layers import FullyConnected, Softmax
from gpunn.network import Network
from tests.faults import MALFORMED, edited, gpunn, one_error_line


def make_net(seed=0, n_hidden=10, dtype="float32"):
    return Network(
        [FullyConnected(n_hidden, "relu"), Softmax(10)],
        "log-likelihood",
        device="cpu",
        dtype=dtype,
        seed=seed,
    )


@pytest.fixture
def good(tmp_path):
    """A saved model's bytes (its softmax weights made non-zero, so that they matter)."""
    net = make_net()
    net.layers[1].w += 0.25
    path = tmp_path / "good.npz"
    net.save(path)
    return path.read_bytes()


@pytest.fixture
def no_data(monkeypatch):
    """Make loading a dataset fail the test: errors must come before that work."""

    def refuse(*args, **kwargs):
        raise AssertionError("the dataset was loaded")

    monkeypatch.setattr("gpunn.run_setup.load_data", refuse)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_is_exact(tmp_path, dtype):
    net = make_net(seed=3, dtype=dtype)
    net.save(tmp_path / "m.npz", {"note": "hello", "accuracy": 0.5})
    back = Network.load(tmp_path / "m.npz", "cpu")
    assert back.config() == net.config() and back.dtype == net.dtype
    assert back.metadata == {"note": "hello", "accuracy": 0.5}
    for k, v in net.state().items():
        assert np.array_equal(back.state()[k], v) and back.state()[k].dtype == v.dtype
    x = np.random.default_rng(0).random((7, 784))
    assert np.array_equal(back.predict_proba(x), net.predict_proba(x))


def test_files_hold_no_pickle(tmp_path):
    make_net().save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == ["__gpunn__", "layer0/b", "layer0/w", "layer1/b", "layer1/w"]
        assert all(npz[k].dtype != object for k in npz.files)


@pytest.mark.parametrize("name", MALFORMED)
@pytest.mark.filterwarnings("error")  # no warning beside the one line either
def test_a_malformed_model_file_is_one_clear_error(name, tmp_path, good, no_data, capsys):
    path = tmp_path / "model.npz"
    path.write_bytes(MALFORMED[name](good))
    with pytest.raises(ModelFileError, match=str(path)):
        Network.load(path, "cpu")
    before = path.read_bytes()
    assert main(["evaluate", str(path), "--device", "cpu"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert str(path) in line
    assert "unsafely" not in line  # never advise loading a stranger's file with pickle
    assert path.read_bytes() == before


def test_missing_and_folder_paths(tmp_path, no_data, capsys):
    with pytest.raises(ModelFileError, match="no such file"):
        Network.load(tmp_path / "absent.npz")
    with pytest.raises(ModelFileError, match="is not a file"):
        Network.load(tmp_path)
    assert main(["evaluate", str(tmp_path / "absent.npz"), "--device", "cpu"]) == 2
    assert "absent.npz: no such file" in one_error_line(capsys.readouterr().err)


def test_a_future_version_says_to_upgrade(tmp_path, good):
    path = tmp_path / "m.npz"
    path.write_bytes(MALFORMED["future format_version"](good))
    with pytest.raises(ModelFileError, match="written by a newer gpunn.*upgrade gpunn"):
        Network.load(path)


@pytest.mark.parametrize("name", ["empty", "random bytes", "truncated to 50%"])
def test_the_real_command_prints_no_traceback(name, tmp_path, good):
    path = tmp_path / "model.npz"
    path.write_bytes(MALFORMED[name](good))
    done = gpunn("evaluate", path, cwd=tmp_path)
    assert done.returncode == 2
    assert str(path.name) in one_error_line(done.stderr) and not done.stdout


def test_foreign_kinds_of_gpunn_file_are_told_apart(tmp_path):
    net = make_net()
    net.save(tmp_path / "model.npz")
    Ensemble([net, make_net(1)]).save(tmp_path / "ensemble.npz")
    with pytest.raises(ModelFileError, match="'gpunn-ensemble' file, not a 'gpunn-model'"):
        Network.load(tmp_path / "ensemble.npz")
    with pytest.raises(ModelFileError, match="'gpunn-model' file, not a 'gpunn-ensemble'"):
        Ensemble.load(tmp_path / "model.npz")
    with pytest.raises(ModelFileError, match="'gpunn-model' file, not a 'gpunn-checkpoint'"):
        read_checkpoint(tmp_path / "model.npz")


def test_parameters_of_another_architecture_are_refused():
    with pytest.raises(ShapeError, match="layer0/w has shape"):
        make_net().load_state(make_net(n_hidden=11).state())


def test_a_failed_save_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    make_net(seed=1).save(path)
    before = path.read_bytes()

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        make_net(seed=2).save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.npz"]


def test_a_save_into_a_new_folder_creates_it(tmp_path):
    make_net().save(tmp_path / "a" / "b" / "m.npz")
    assert Network.load(tmp_path / "a" / "b" / "m.npz").n_outputs == 10


def test_saved_files_follow_the_umask_like_any_new_file(tmp_path):
    old = os.umask(0o022)
    try:
        make_net().save(tmp_path / "m.npz")
        (tmp_path / "plain").write_bytes(b"")
    finally:
        os.umask(old)
    mode = (tmp_path / "m.npz").stat().st_mode & 0o777
    assert mode == (tmp_path / "plain").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("kind", ["model", "ensemble"])
def test_metadata_that_is_not_an_object_is_a_model_file_error(tmp_path, kind):
    path = tmp_path / f"{kind}.npz"
    if kind == "model":
        make_net().save(path)
    else:
        Ensemble([make_net(), make_net(1)]).save(path)
    path.write_bytes(edited(path.read_bytes(), header=lambda h: {**h, "metadata": [1, 2]}))
    with pytest.raises(ModelFileError, match="its metadata is not a JSON object"):
        serialize.load_model(path)


def test_metadata_that_load_would_refuse_is_refused_by_save(tmp_path):
    for bad, words in (([1, 2], "must be a dict"), ({"when": object()}, "JSON values only")):
        with pytest.raises(ConfigError, match=words):
            make_net().save(tmp_path / "m.npz", bad)
        with pytest.raises(ConfigError, match=words):
            Ensemble([make_net()]).save(tmp_path / "e.npz", bad)
    assert list(tmp_path.iterdir()) == []
