"""Small, learnable, seeded stand-ins for MNIST: 10 noisy prototypes of 28×28 "digits"."""

from types import SimpleNamespace

import numpy as np


def blobs(n_train=600, n_validation=200, n_test=200, seed=0, noise=0.3):
    rng = np.random.default_rng(seed)
    centers = rng.random((10, 784)).astype(np.float32)

    def split(n):
        y = rng.integers(0, 10, n)
        x = np.clip(centers[y] + noise * rng.standard_normal((n, 784)), 0, 1).astype(np.float32)
        return SimpleNamespace(x=x, y=y.astype(np.int64))

    return SimpleNamespace(
        name="blobs", train=split(n_train), validation=split(n_validation), test=split(n_test)
    )
