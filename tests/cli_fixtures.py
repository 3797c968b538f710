"""Set-up shared by the command-line tests (``test_cli*.py``): the short run's options,
a small dataset, one trained run, digit images and saved models.

As with ``faults.py``, a test module imports what it uses by name. A fixture is imported
as ``fixture_NAME`` and registered under ``NAME`` (pytest's ``name=``), so that the tests'
parameters shadow no import; each such name is marked ``# noqa: F401`` (pytest uses it,
the code does not), and ``trained`` needs ``data_dir`` imported beside it. A
module-scoped fixture runs once in each module that imports it.
"""

import numpy as np
import pytest

from gpunn.cli import main
from gpunn.layers import FullyConnected
from gpunn.network import Network
from tests.faults import write_pkl_dataset

TRAIN = ["train", "--preset", "fc30", "--train-size", "500", "--epochs", "1", "--device", "cpu"]


@pytest.fixture(scope="module", name="data_dir")
def fixture_data_dir(tmp_path_factory):
    return write_pkl_dataset(tmp_path_factory.mktemp("data"), n_train=500, n_test=200)


@pytest.fixture(name="no_data")
def fixture_no_data(monkeypatch):
    """Make loading a dataset fail the test: these errors must come before that work."""

    def refuse(*args, **kwargs):
        raise AssertionError("the dataset was loaded")

    monkeypatch.setattr("gpunn.run_setup.load_data", refuse)


@pytest.fixture(scope="module", name="trained")
def fixture_trained(data_dir, tmp_path_factory):
    """A checkpoint folder and saved model of one short run."""
    folder = tmp_path_factory.mktemp("run")
    argv = [*TRAIN, "--data-dir", data_dir, "--checkpoint-dir", folder / "ckpt"]
    assert main([str(a) for a in [*argv, "--save", folder / "net.npz"]]) == 0
    return folder


@pytest.fixture(name="images")
def fixture_images(tmp_path):
    """A good digit PNG and a set of files that are not readable images."""
    from PIL import Image

    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255
    Image.fromarray(digit).save(tmp_path / "one.png")
    Image.fromarray(255 - digit).resize((56, 56)).save(tmp_path / "dark-on-light.png")
    (tmp_path / "notes.png").write_text("not an image\n")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "torn.png").write_bytes((tmp_path / "one.png").read_bytes()[:60])
    (tmp_path / "folder.png").mkdir()
    return tmp_path


def save_model(path, n_out=10, n_in=784):
    Network([FullyConnected(n_out, n_in=n_in)], input_shape=(n_in,), device="cpu").save(path)
    return path
