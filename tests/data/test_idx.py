"""gpunn.data.idx: reading IDX files, gzip or raw, and refusing broken ones."""

import gzip
import hashlib

import numpy as np
import pytest

from gpunn.data.idx import content_sha256, idx_sha256, read_idx, read_idx_pair
from gpunn.errors import DataError


@pytest.fixture
def images(rng):
    return rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)


@pytest.fixture
def labels(rng):
    return rng.integers(0, 10, 7, dtype=np.uint8)


@pytest.mark.parametrize("compress", [True, False])
def test_round_trip(idx, tmp_path, images, labels, compress):
    ipath = idx.write(tmp_path / "images", images, compress=compress)
    lpath = idx.write(tmp_path / "labels", labels, compress=compress)
    x, y = read_idx_pair(ipath, lpath)
    assert x.dtype == np.uint8 and x.shape == (7, 28, 28)
    assert y.dtype == np.uint8 and y.shape == (7,)
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)


@pytest.mark.parametrize("compress", [True, False])
def test_sha256_is_of_the_decompressed_content(idx, tmp_path, images, compress):
    path = idx.write(tmp_path / "images", images, compress=compress)
    expected = hashlib.sha256(idx.bytes(images)).hexdigest()
    assert content_sha256(path) == expected
    assert idx_sha256(images) == expected


def test_empty_files_are_fine(idx, tmp_path):
    path = idx.write(tmp_path / "labels.gz", np.zeros(0, np.uint8))
    assert read_idx(path, "labels").shape == (0,)


def _expect_error(path, kind, *words):
    with pytest.raises(DataError) as info:
        read_idx(path, kind)
    message = str(info.value)
    assert str(path) in message
    for word in words:
        assert word in message
    return message


def test_wrong_magic(idx, tmp_path, images, labels):
    labels_path = idx.write(tmp_path / "labels.gz", labels)
    _expect_error(labels_path, "images", "magic", "0x00000801")
    odd = idx.write(tmp_path / "odd.gz", images, magic=0x00000D03)
    _expect_error(odd, "images", "magic", "0x00000d03")


@pytest.mark.parametrize("compress", [True, False])
def test_truncated(idx, tmp_path, images, compress):
    data = idx.bytes(images)[:-5]
    path = tmp_path / "images"
    path.write_bytes(gzip.compress(data) if compress else data)
    _expect_error(path, "images", "truncated", "7x28x28")


def test_truncated_header_and_tiny_file(idx, tmp_path, images):
    path = tmp_path / "images"
    path.write_bytes(idx.bytes(images)[:10])
    _expect_error(path, "images", "header")
    path.write_bytes(b"\x00\x00")
    _expect_error(path, "images", "too short")


def test_extra_bytes(idx, tmp_path, labels):
    path = tmp_path / "labels"
    path.write_bytes(idx.bytes(labels) + b"\x00")
    _expect_error(path, "labels", "extra bytes")


def test_label_out_of_range(idx, tmp_path, labels):
    labels[3] = 10
    path = idx.write(tmp_path / "labels.gz", labels)
    _expect_error(path, "labels", "label 10 at index 3")


def test_wrong_image_size(idx, tmp_path):
    path = idx.write(tmp_path / "images.gz", np.zeros((2, 27, 28), np.uint8))
    _expect_error(path, "images", "27x28")


def test_corrupt_gzip(idx, tmp_path, images):
    path = tmp_path / "images.gz"
    path.write_bytes(gzip.compress(idx.bytes(images))[:200])
    _expect_error(path, "images", "gzip")


def test_missing_file(tmp_path):
    _expect_error(tmp_path / "nothing.gz", "images", "cannot read")


def test_counts_must_agree(idx, tmp_path, images, labels):
    ipath = idx.write(tmp_path / "images.gz", images)
    lpath = idx.write(tmp_path / "labels.gz", labels[:5])
    with pytest.raises(DataError, match="7 images.*5 labels") as info:
        read_idx_pair(ipath, lpath)
    assert str(ipath) in str(info.value) and str(lpath) in str(info.value)
