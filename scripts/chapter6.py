"""Chapter 6: the ladder from a shallow net to the book's best ensemble.

shallow → conv1 → conv2 → conv2-relu → + expanded data → + extra FC → final (dropout)
→ an ensemble of five finals (``--ensemble K``: K; the book's five vote, so its 99.67% stands
beside the vote, the average of their probabilities beside it). Writes results.json,
learning curves, and the first layer's filters and the (first 100) misclassified test
digits of the last rung of ``--only`` (final for the whole ladder; its first seed).

    python scripts/chapter6.py --device gpu            # the whole ladder
    python scripts/chapter6.py --only conv2-relu final --epochs 5
"""

import starting  # noqa: F401 (first: SIGINT/SIGTERM while the libraries load)

# isort: split

import time

import numpy as np
from common import Results, parser, preset_run, run

import gpunn
from gpunn.backend import to_numpy
from gpunn.plots import plot_digits, plot_filters, plot_learning_curves

LADDER = [
    "shallow",
    "conv1",
    "conv2",
    "conv2-relu",
    "conv2-relu-expanded",
    "conv2-relu-fc2",
    "final",
]


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", choices=LADDER, default=LADDER)
    p.add_argument(
        "--ensemble", type=int, default=5, help="members of the final ensemble (≤ 1: none)"
    )
    args = p.parse_args()
    results = Results("chapter6", args)
    data = gpunn.data.load("mnist", args.data_dir)
    nets = {name: preset_run(results, name, data, args) for name in args.only}

    if "final" in args.only and args.ensemble > 1:
        ensemble_of_finals(results, nets["final"], data, args)

    last = nets[args.only[-1]]
    predicted = to_numpy(last.predict(data.test.x))
    wrong = np.flatnonzero(predicted != data.test.y)
    with results.completing():
        plot_learning_curves(
            {n: r["history"] for n, r in results.runs.items() if "history" in r},
            results.dir / "test_accuracy.png",
        )
        if isinstance(last.layers[0], gpunn.ConvPool):
            plot_filters(to_numpy(last.layers[0].w), results.dir / "filters.png")
        else:  # an earlier run's filters would sit beside this record
            (results.dir / "filters.png").unlink(missing_ok=True)
        plot_digits(
            data.test.x[wrong[:100]],
            data.test.y[wrong[:100]],
            predicted[wrong[:100]],
            results.dir / "misclassified.png",
        )
        results.say(results.table())
        results.say(f"{len(wrong)} test digits misclassified by {args.only[-1]}")


def ensemble_of_finals(results: Results, first, data, args) -> None:
    """Train ``args.ensemble`` − 1 more finals (seeds after ``args.seed``) and record the
    ensemble of them and ``first`` as 'ensembleK': each member's test accuracy, the vote
    (the book's way) and the average, and the seconds of all its members and of its
    evaluation."""
    preset, members = gpunn.get_preset("final"), [first]
    for k in range(1, args.ensemble):
        net = preset.network(results.device, seed=args.seed + k)
        cfg = preset.config(epochs=args.epochs, seed=args.seed + k)
        label = f"final (seed {args.seed + k})"
        results.train(label, net, data, cfg, expand=preset.expand, book=preset.book_accuracy)
        members.append(net)
    start = time.perf_counter()
    device = first.device
    test_x, test_y = device.send(data.test.x, first.dtype), device.send(data.test.y)
    ens = gpunn.Ensemble(members).evaluate(test_x, test_y)
    trained = [name for name in results.runs if name == "final" or name.startswith("final (")]
    results.runs[f"ensemble{len(members)}"] = {
        "book": gpunn.get_preset("ensemble5").book_accuracy if len(members) == 5 else None,
        "ensemble": ens,
        "members": trained,
        "wall_seconds": sum(results.runs[n]["wall_seconds"] for n in trained)
        + time.perf_counter()
        - start,
        "summary": {"test_accuracy_at_best_validation": ens["vote"]},
    }
    results.save()


if __name__ == "__main__":
    run(main)
