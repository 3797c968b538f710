"""Reading IDX files, the format MNIST and Fashion-MNIST are distributed in.

An IDX file is a big-endian header -- the magic number ``0x000008DD`` (``08``
for unsigned bytes, ``DD`` the number of dimensions), then one 4-byte size per
dimension -- followed by the data. Files may be gzip-compressed or raw; the
gzip magic bytes decide, not the name. Images are ``(N, 28, 28)`` uint8 and
labels ``(N,)`` uint8 in 0..9. Anything else raises ``DataError`` naming the
file, and nothing is returned half-read.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
import zlib
from pathlib import Path

import numpy as np

from gpunn.errors import DataError

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension
KINDS = {"images": IMAGES_MAGIC, "labels": LABELS_MAGIC}
IMAGE_SIZE = (28, 28)
N_CLASSES = 10
_GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: str | Path) -> bytes:
    """The content of ``path``, decompressed when it starts with the gzip magic bytes."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return decompressed(data, path)


def decompressed(data: bytes, origin: object) -> bytes:
    """``data``, decompressed when it starts with the gzip magic bytes; a DataError naming
    ``origin`` (a file, a URL) when they are not whole gzip data."""
    if data[:2] != _GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{origin}: corrupt or truncated gzip data: {exc}") from exc


def content_sha256(path: str | Path) -> str:
    """The sha256 hex digest of the (decompressed) content of ``path``."""
    return hashlib.sha256(read_bytes(path)).hexdigest()


def idx_sha256(array: np.ndarray) -> str:
    """The sha256 of ``array`` (uint8) written as an IDX file: equals ``content_sha256`` of one."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    digest = hashlib.sha256(_header(array.shape))
    digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def _header(shape: tuple[int, ...]) -> bytes:
    return struct.pack(f">I{len(shape)}I", 0x800 | len(shape), *shape)


def parse_idx(data: bytes, kind: str, source: str | Path = "<bytes>") -> np.ndarray:
    """Parse IDX ``data`` of ``kind`` 'images' -> (N, 28, 28) or 'labels' -> (N,), both uint8.

    ``source`` only names the data in error messages.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be 'images' or 'labels', not {kind!r}")
    expected = KINDS[kind]
    if len(data) < 4:
        raise DataError(f"{source}: too short to be an IDX file ({len(data)} bytes)")
    (magic,) = struct.unpack(">I", data[:4])
    if magic != expected:
        raise DataError(
            f"{source}: wrong magic number 0x{magic:08x} for IDX {kind} "
            f"(expected 0x{expected:08x}); is it the right file?"
        )
    ndim = magic & 0xFF
    offset = 4 + 4 * ndim
    if len(data) < offset:
        raise DataError(f"{source}: truncated header ({len(data)} bytes, needs {offset})")
    shape = struct.unpack(f">{ndim}I", data[4:offset])
    if kind == "images" and shape[1:] != IMAGE_SIZE:
        raise DataError(f"{source}: images are {shape[1]}x{shape[2]}, expected 28x28")
    size = int(np.prod(shape, dtype=np.int64))
    if len(data) - offset != size:
        what = "truncated" if len(data) - offset < size else "has extra bytes"
        raise DataError(
            f"{source}: {what}: header says {'x'.join(map(str, shape))} = {size} bytes of data, "
            f"found {len(data) - offset}"
        )
    array = np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape)
    if kind == "labels" and size and array.max() >= N_CLASSES:
        bad = int(np.argmax(array >= N_CLASSES))
        raise DataError(f"{source}: label {array[bad]} at index {bad} is not in 0..9")
    return array


def read_idx(path: str | Path, kind: str) -> np.ndarray:
    """Read the IDX file ``path`` (gzip or raw): 'images' -> (N, 28, 28), 'labels' -> (N,) uint8."""
    return parse_idx(read_bytes(path), kind, path)


def read_idx_pair(
    images_path: str | Path, labels_path: str | Path
) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) and labels (N,) from two IDX files that must agree on N."""
    images = read_idx(images_path, "images")
    labels = read_idx(labels_path, "labels")
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels"
        )
    return images, labels
