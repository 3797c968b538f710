#!/usr/bin/env python
"""Which test digits an ensemble's members get wrong, and how many members share each error.

    python bench/ensemble_errors.py A.npz B.npz C.npz --out shared-errors.png

An ensemble mends the errors that fewer than half its members make; those that every member
makes stay, however many members of the same kind are added. So the counts below bound what
more members *of the same kind* can reach: with many of them, the errors left are about those
a member makes more often than not (here: made by more than half of these members). Prints
each member's errors, how many errors are made by 1, 2, … of the k members, the average of
probabilities' errors, the pairs' shared errors, and draws the digits every member gets wrong
(label → the average's guess) into ``--out``.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections import Counter


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+", metavar="NET", help="saved networks (.npz), two or more")
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--data-dir", help="default: GPUNN_DATA or the dataset's cache")
    p.add_argument("--out", metavar="PNG", help="the digits every member gets wrong")
    args = p.parse_args(argv)
    if len(args.models) < 2:
        p.error("give two or more networks")

    import numpy as np

    from gpunn import data
    from gpunn.backend import get_device, to_numpy
    from gpunn.serialize import load_model

    test = data.load(args.dataset, args.data_dir, validation_size=0).test
    device = get_device("cpu")
    probs = [to_numpy(load_model(m, device).predict_proba(test.x)) for m in args.models]
    wrong = [set(np.flatnonzero(pr.argmax(axis=1) != test.y).tolist()) for pr in probs]
    k, n = len(probs), len(test.y)
    for path, w in zip(args.models, wrong, strict=True):
        print(f"{len(w):4d} errors  {path}")
    made_by = Counter(i for w in wrong for i in w)
    by_count = Counter(made_by.values())
    print(f"errors made by 1, 2, … {k} of the {k} members:", [by_count[j] for j in range(1, k + 1)])
    most = sum(c for j, c in by_count.items() if 2 * j > k)
    print(f"made by more than half the members: {most} ({1 - most / n:.2%} if only those stayed)")
    average = sum(probs) / k
    guesses = average.argmax(axis=1)
    print(f"average of the {k}: {int((guesses != test.y).sum())} errors")
    for (a, wa), (b, wb) in itertools.combinations(enumerate(wrong), 2):
        print(f"  members {a} and {b}: {len(wa & wb)} errors shared")
    every = sorted(set.intersection(*wrong))
    listed = [(i, int(test.y[i]), int(guesses[i])) for i in every]
    print(f"every member wrong: {len(every)} (index, label, the average's guess):", listed)
    if args.out and every:
        from gpunn.plots import plot_digits

        side = int(round(test.x.shape[1] ** 0.5))
        images = test.x[every].reshape(-1, side, side)
        print("wrote", plot_digits(images, test.y[every], guesses[every], args.out, columns=9))
    return 0


if __name__ == "__main__":
    sys.exit(main())
