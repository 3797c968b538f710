"""bench/ensemble_errors.py: each member's errors, how many members share each, and the
digits every member gets wrong, counted as the members' own predictions say."""

import re

import numpy as np

from gpunn import data
from gpunn.layers import FullyConnected
from gpunn.network import Network
from tests.bench_scripts import load_bench_script
from tests.faults import write_pkl_dataset


def test_counts_agree_with_the_members_predictions(tmp_path, capsys):
    script = load_bench_script("ensemble_errors")
    folder = write_pkl_dataset(tmp_path / "data", n_train=100, n_test=60)
    nets, paths = [], []
    for seed in (0, 1, 2):  # untrained, each drawn its own way: errors shared and not
        nets.append(Network([FullyConnected(10)], input_shape=(784,), seed=seed, device="cpu"))
        nets[-1].save(tmp_path / f"net{seed}.npz")
        paths.append(str(tmp_path / f"net{seed}.npz"))
    out = tmp_path / "every.png"
    assert script.main([*paths, "--data-dir", str(folder), "--out", str(out)]) == 0
    said = capsys.readouterr().out

    test = data.load("mnist", folder, validation_size=0).test
    wrong = [set(np.flatnonzero(n.predict(test.x) != test.y).tolist()) for n in nets]
    for path, w in zip(paths, wrong, strict=True):
        assert f"{len(w):4d} errors  {path}" in said
    shares = [
        sum(1 for i in set.union(*wrong) if sum(i in w for w in wrong) == j) for j in (1, 2, 3)
    ]
    assert f"made by 1, 2, … 3 of the 3 members: {shares}" in said
    every = set.intersection(*wrong)
    assert re.search(rf"every member wrong: {len(every)} ", said)
    assert 0 < len(every) < len(set.union(*wrong))  # the case the counts are for
    assert out.is_file()
