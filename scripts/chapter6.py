"""Chapter 6: the ladder from a shallow net to the book's best ensemble.

shallow → conv1 → conv2 → conv2-relu → + expanded data → + extra FC → final (dropout)
→ an ensemble of five finals. Writes results.json, learning curves, the first layer's
filters and the (first 100) misclassified test digits of the last net trained (final for
the whole ladder).

    python scripts/chapter6.py --device gpu            # the whole ladder
    python scripts/chapter6.py --only conv2-relu final --epochs 5
"""

import numpy as np
from common import Results, parser, preset_run

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
        members = [nets["final"]]
        preset = gpunn.get_preset("final")
        for k in range(1, args.ensemble):
            net = preset.network(results.device, seed=args.seed + k)
            cfg = preset.config(epochs=args.epochs, seed=args.seed + k)
            results.train(
                f"final (seed {args.seed + k})", net, data, cfg, expand=preset.expand, book=99.60
            )
            members.append(net)
        test_x = members[0].device.send(data.test.x, members[0].dtype)
        ens = gpunn.Ensemble(members).evaluate(test_x, members[0].device.send(data.test.y))
        results.runs["ensemble5"] = {
            "book": 99.67,
            "ensemble": ens,
            "wall_seconds": 0.0,
            "summary": {"test_accuracy_at_best_validation": ens["average"]},
        }
        results.save()

    plot_learning_curves(
        {n: r["history"] for n, r in results.runs.items() if "history" in r},
        results.dir / "test_accuracy.png",
    )
    last = nets[args.only[-1]]
    if isinstance(last.layers[0], gpunn.ConvPool):
        plot_filters(to_numpy(last.layers[0].w), results.dir / "filters.png")
    predicted = to_numpy(last.predict(data.test.x))
    wrong = np.flatnonzero(predicted != data.test.y)
    plot_digits(
        data.test.x[wrong[:100]],
        data.test.y[wrong[:100]],
        predicted[wrong[:100]],
        results.dir / "misclassified.png",
    )
    results.say(results.table())
    results.say(
        f"results in {results.save()}; {len(wrong)} test digits misclassified by {args.only[-1]}"
    )


if __name__ == "__main__":
    main()
