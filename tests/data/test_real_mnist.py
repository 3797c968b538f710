"""The real MNIST files, where GPUNN_DATA points at them (skipped otherwise)."""

import os
from pathlib import Path

import numpy as np
import pytest

from gpunn.data import candidate_dirs, content_sha256, expand_shifts, load
from gpunn.data.download import DATASETS
from gpunn.data.sources import IDX_NAMES, find_idx_file

pytestmark = pytest.mark.mnist
REAL_DATA = os.environ.get("GPUNN_DATA")  # read at collection, before the fixtures clear it
TRAIN_LABEL_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


@pytest.fixture(scope="module")
def real_dir():
    if not REAL_DATA:
        pytest.skip("GPUNN_DATA is not set (e.g. GPUNN_DATA=/work/shared/data/mnist)")
    for d in (Path(REAL_DATA) / "mnist", Path(REAL_DATA)):
        if all(find_idx_file(d, name) for name in IDX_NAMES):
            return d
    pytest.skip(f"the four MNIST IDX files are not in {REAL_DATA} or its mnist/ subfolder")


@pytest.fixture(scope="module")
def mnist(real_dir):
    """Loaded through the parent folder when the files are in one called mnist/."""
    return load("mnist", real_dir.parent if real_dir.name == "mnist" else real_dir, download=False)


def test_checksums(real_dir):
    for name in IDX_NAMES:
        assert content_sha256(find_idx_file(real_dir, name)) == DATASETS["mnist"].sha256[name]


def test_book_split(mnist, real_dir):
    assert mnist.source == str(real_dir)
    assert [len(s) for s in (mnist.train, mnist.validation, mnist.test)] == [50000, 10000, 10000]
    counts = np.bincount(mnist.train.y, minlength=10) + np.bincount(mnist.validation.y)
    assert counts.tolist() == TRAIN_LABEL_COUNTS
    assert mnist.train.x.min() == 0.0 and mnist.train.x.max() == 1.0
    assert mnist.test.x.shape == (10000, 784) and mnist.test.x.flags.c_contiguous


def test_env_may_name_the_folder_itself(real_dir, monkeypatch):
    monkeypatch.setenv("GPUNN_DATA", str(real_dir))
    assert candidate_dirs("mnist")[0] == real_dir


def test_expand_real_images(mnist):
    x, y = expand_shifts(mnist.train.x[:100], mnist.train.y[:100])
    assert x.shape == (500, 784) and (y[:100] == y[400:]).all()
    assert x[100:].sum() < 4 * x[:100].sum()  # shifting only ever loses ink at the edges
