"""Chapter 3: cost functions, L2 regularisation, overfitting and weight initialisation.

Cross-entropy against quadratic cost, overfitting on 1,000 images with and without L2,
and the N(0, 1) against the N(0, 1/n_in) initialisation.

    python scripts/chapter3.py [--device gpu] [--epochs N]
"""

import starting  # noqa: F401 (first: SIGINT/SIGTERM while the libraries load)

# isort: split

from common import Results, parser, preset_run, run

import gpunn
from gpunn.layers import FullyConnected
from gpunn.plots import plot_learning_curves


def fc(sizes, cost, init, device, seed):
    return gpunn.Network(
        [FullyConnected(n, init=init) for n in sizes], cost, device=device, seed=seed
    )


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    results = Results("chapter3", args)
    data = gpunn.data.load("mnist", args.data_dir)
    small = gpunn.data.load("mnist", args.data_dir, train_size=1000)

    def train(name, d, cost, init, book, **settings):
        cfg = gpunn.TrainConfig(
            seed=args.seed, **{**settings, **({"epochs": args.epochs} if args.epochs else {})}
        )
        net = fc([30, 10], cost, init, results.device, args.seed)
        return results.train(name, net, d, cfg, book=book)

    preset_run(results, "fc30", data, args, init="large")  # quadratic cost, η 3.0: 95.42
    train("fc30 cross-entropy", data, "cross-entropy", "large", 95.49, epochs=30, eta=0.5)
    train("1000 images, λ 0", small, "cross-entropy", "large", 82.27, epochs=400, eta=0.5)
    train(
        "1000 images, λ 0.1", small, "cross-entropy", "large", 87.1, epochs=400, eta=0.5, lmbda=0.1
    )
    train(
        "fc30 cross-entropy, λ 5",
        data,
        "cross-entropy",
        "large",
        96.49,
        epochs=30,
        eta=0.5,
        lmbda=5.0,
    )
    train(
        "fc30 λ 5, N(0,1) init", data, "cross-entropy", "large", None, epochs=30, eta=0.1, lmbda=5.0
    )
    train(
        "fc30 λ 5, N(0,1/n_in) init",
        data,
        "cross-entropy",
        "default",
        None,
        epochs=30,
        eta=0.1,
        lmbda=5.0,
    )
    preset_run(results, "fc100-ce-l2", data, args)  # 98.04

    runs = results.runs
    with results.completing():
        plot_learning_curves(
            {n: runs[n]["history"] for n in ("1000 images, λ 0", "1000 images, λ 0.1")},
            results.dir / "overfitting.png",
        )
        initialisations = ("fc30 λ 5, N(0,1) init", "fc30 λ 5, N(0,1/n_in) init")
        plot_learning_curves(
            {n: runs[n]["history"] for n in initialisations},
            results.dir / "initialisation.png",
            key="validation_accuracy",
        )
        costs = {n: runs[n]["history"] for n in ("fc30", "fc30 cross-entropy")}
        plot_learning_curves(costs, results.dir / "costs.png")
        results.say(results.table())


if __name__ == "__main__":
    run(main)
