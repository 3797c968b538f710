"""Chapter 5: the speed of learning of each hidden layer in deep sigmoid networks.

Same as ``gpunn gradients``: [784, 30, 30, 10] to [784, 30, 30, 30, 30, 10], sigmoid with
N(0, 1) weights, then the book's study (N(0, 1/n_in): 1,000 training images, 500 epochs
of one full-batch step, η 0.1, λ 5.0), then ReLU. ``gradients.json`` records the commit.

    python scripts/chapter5.py [--device gpu] [--epochs 500]
"""

import starting  # first: SIGINT/SIGTERM while the libraries load

# isort: split

import sys

from common import ROOT, parser

from gpunn.gradients import BOOK_TRAINING


def main() -> int:
    args = parser(__doc__.splitlines()[0]).parse_args()
    epochs = args.epochs or BOOK_TRAINING["epochs"]
    quick = epochs != BOOK_TRAINING["epochs"]  # a quick look leaves the full run's folder alone
    folder = f"chapter5-epochs{epochs}" if quick else "chapter5"
    out = args.out or str(ROOT / "scripts" / "results" / folder)
    argv = ["gradients", "--out", out, "--epochs", str(epochs), "--seed", str(args.seed)]
    argv += ["--device", args.device] if args.device else []
    argv += ["--data-dir", args.data_dir] if args.data_dir else []
    from gpunn.__main__ import run  # the gpunn program: its signals, one-line errors

    starting.started()
    sys.argv = ["gpunn", *argv]
    return run()  # exit 2 for an error, 130 for SIGINT or SIGTERM


if __name__ == "__main__":
    sys.exit(main())
