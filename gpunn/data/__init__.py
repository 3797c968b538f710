"""MNIST and Fashion-MNIST for gpunn: finding, fetching, checking and splitting them.

``load(name)`` returns a ``Dataset`` split as in the book (50,000 train, 10,000
validation, 10,000 test; images float32 (N, 784) in [0, 1], labels int64 (N,)).
See ``gpunn.data.datasets`` for where files are looked for and how they are
checked, ``gpunn.data.expand`` for growing the training set.
"""

from gpunn.data.datasets import (
    VALIDATION_SIZE,
    Dataset,
    Split,
    cache_dir,
    candidate_dirs,
    load,
    load_raw,
)
from gpunn.data.expand import expand_shifts, random_distort
from gpunn.data.idx import content_sha256, idx_sha256, read_idx

__all__ = [
    "VALIDATION_SIZE",
    "Dataset",
    "Split",
    "cache_dir",
    "candidate_dirs",
    "content_sha256",
    "expand_shifts",
    "idx_sha256",
    "load",
    "load_raw",
    "random_distort",
    "read_idx",
]
