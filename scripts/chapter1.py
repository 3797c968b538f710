"""Chapter 1: sigmoid networks of different sizes, quadratic cost, η = 3.0, mini-batch 10.

The book: [784, 30, 10] peaks at 95.42%, [784, 100, 10] at 96.59%, from N(0, 1)
weights; each runs here that way and with gpunn's default N(0, 1/n_in).

    python scripts/chapter1.py [--device gpu] [--epochs 30]
"""

import starting  # noqa: F401 (first: SIGINT/SIGTERM while the libraries load)

# isort: split

from common import Results, parser, preset_run, run

import gpunn
from gpunn.plots import plot_learning_curves


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    results = Results("chapter1", args)
    data = gpunn.data.load("mnist", args.data_dir)
    for name in ("fc30", "fc100"):
        preset_run(results, name, data, args, init="large", label=f"{name}, N(0, 1) as the book")
        preset_run(results, name, data, args, label=f"{name}, N(0, 1/n_in)")
    with results.completing():
        histories = {n: r["history"] for n, r in results.runs.items()}
        plot_learning_curves(histories, results.dir / "test_accuracy.png")
        results.say(results.table())


if __name__ == "__main__":
    run(main)
