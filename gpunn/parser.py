"""The ``gpunn`` command line's parser: each sub-command's options, their types and help.

It imports only the standard library and gpunn's light modules at its top, as ``gpunn.cli``
does (Ctrl-C during start-up: see there); NumPy-backed names load inside the functions.
"""

from __future__ import annotations

import argparse

from gpunn.arguments import (
    add_data_args,
    add_device_arg,
    nonneg_float,
    nonneg_int,
    path_text,
    positive_float,
    positive_int,
)

DESCRIPTION = (
    "gpunn's command line: train, evaluate, predict, presets, bench, gradients, curves, "
    "distortions."
)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every sub-command (``gpunn --help`` lists them)."""
    from gpunn import __version__
    from gpunn.benchmark.cli import add_parser as add_bench_parser

    parser = argparse.ArgumentParser(prog="gpunn", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"gpunn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_train(sub)
    sub.add_parser("presets", help="list the book's networks")
    add_bench_parser(sub)
    _add_gradients(sub)
    _add_evaluate(sub)
    _add_distortions(sub)
    _add_curves(sub)
    _add_predict(sub)
    return parser


def _add_train(sub) -> None:
    """``gpunn train``: a preset and any hyper-parameter it leaves open."""
    t = sub.add_parser("train", help="train a book network (see: gpunn presets)")
    # Defaults of None here are filled in by gpunn.commands, so that a --resume can tell
    # an option that was given (and must agree with the checkpoint) from one that was not.
    t.add_argument("--preset", help="network and hyper-parameters (default fc30)")
    t.add_argument("--epochs", type=positive_int)
    t.add_argument(
        "--batch-size", type=positive_int, dest="mini_batch_size", help="mini-batch size m"
    )
    t.add_argument("--eta", type=float, help="learning rate η")
    t.add_argument("--lmbda", type=float, help="L2 strength λ (weight decay 1 − ηλ/n)")
    t.add_argument("--l1", type=float, help="L1 strength λ₁")
    t.add_argument("--momentum", type=float, help="momentum coefficient μ")
    t.add_argument(
        "--ema",
        type=float,
        metavar="BETA",
        help="evaluate and save an exponential moving average of the weights, a ← β a + "
        "(1 − β) w after each step (for example 0.999; default 0: none); the epoch lines "
        "also give the trained weights' accuracy",
    )
    t.add_argument(
        "--schedule",
        type=nonneg_int,
        metavar="K",
        help="halve η after K epochs without improvement; stop at η₀/128 (0: a fixed η)",
    )
    t.add_argument(
        "--early-stopping",
        type=positive_int,
        metavar="N",
        help="stop after N epochs without improvement in validation accuracy",
    )
    t.add_argument(
        "--warmup",
        type=nonneg_float,
        metavar="E",
        help="raise η linearly from near 0 over the first E epochs (for large mini-batches; "
        "default 0)",
    )
    t.add_argument(
        "--anneal",
        choices=["none", "cosine"],
        help="cosine: lower η step by step as ½(1 + cos) to near 0 at the last step "
        "(after any warm-up; default: the preset's, none)",
    )
    t.add_argument(
        "--order",
        choices=["shuffled", "fixed"],
        help="the mini-batches' order each epoch: shuffled afresh (default), or fixed, the "
        "training set's own order every epoch as in network3",
    )
    t.add_argument("--seed", type=nonneg_int, help="default 0")
    t.add_argument(
        "--train-size", type=positive_int, metavar="N", help="train on the first N training images"
    )
    t.add_argument(
        "--validation-size",
        type=nonneg_int,
        metavar="N",
        help="hold the last N of the 60,000 training images out for validation (default "
        "10000, as the book; 0: train on all 60,000 and report the last epoch's test accuracy)",
    )
    t.add_argument(
        "--expand",
        choices=["none", "shifts", "distort"],
        help="shifts: the book's 5× one-pixel shifts; distort: fresh random shifts, "
        "rotations and elastic distortions each epoch (default: the preset's)",
    )
    t.add_argument(
        "--distort-strength",
        type=positive_float,
        metavar="S",
        help="with --expand distort: scale the shifts (≤ 2 px), rotations (≤ 10°) and, "
        "unless --elastic-alpha is given, elastic α (34) by S (default 1)",
    )
    t.add_argument(
        "--distort-scale",
        type=nonneg_float,
        metavar="F",
        help="with --expand distort: also scale each image about its centre by a factor "
        "drawn from [1 − F, 1 + F] (F < 1; default 0: no scaling)",
    )
    t.add_argument(
        "--elastic-alpha",
        type=nonneg_float,
        metavar="A",
        help="with --expand distort: the elastic distortions' α (default 34·S; 0: none)",
    )
    t.add_argument(
        "--deskew",
        action="store_true",
        default=None,
        help="deskew every image (shear each digit upright about its centre of mass) before "
        "the first layer, in training and whenever the saved network is used",
    )
    t.add_argument("--dtype", choices=["float32", "float64"], help="default float32")
    t.add_argument(
        "--init",
        choices=["large", "default", "network3"],
        help="weight initialisation of every layer: large N(0, 1) (chapter 1), "
        "default N(0, 1/n_in) (chapter 3), network3 N(0, 1/n_out) (default: the preset's)",
    )
    t.add_argument("--monitor-training-cost", action="store_true", default=None)
    t.add_argument("--monitor-training-accuracy", action="store_true", default=None)
    t.add_argument("--monitor-validation-cost", action="store_true", default=None)
    t.add_argument("--nan-policy", choices=["stop", "skip-batch"])
    t.add_argument(
        "--metrics", type=path_text, metavar="FILE", help="write per-epoch metrics as JSON lines"
    )
    t.add_argument("--save", type=path_text, metavar="PATH", help="save the trained network (.npz)")
    t.add_argument(
        "--checkpoint-dir", type=path_text, metavar="DIR", help="checkpoint at every epoch end"
    )
    t.add_argument("--keep-checkpoints", type=positive_int, default=3, metavar="K")
    t.add_argument(
        "--resume", type=path_text, metavar="DIR", help="continue from the last good checkpoint"
    )
    t.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: on a terminal)",
    )
    add_device_arg(t)
    add_data_args(t, dataset=None)

    t.add_argument(
        "--ensemble",
        type=positive_int,
        metavar="K",
        help="train K networks (seeds seed … seed+K−1) and combine them "
        "(default: the preset's, 5 for ensemble5 and ensemble5-fast)",
    )


def _add_gradients(sub) -> None:
    """``gpunn gradients``: chapter 5's speed of learning per hidden layer."""
    g = sub.add_parser("gradients", help="chapter 5: each hidden layer's speed of learning")
    g.add_argument("--epochs", type=positive_int, default=500, help="default 500, as the book")
    g.add_argument("--train-size", type=positive_int, default=1000, metavar="N")
    g.add_argument("--eta", type=positive_float, default=0.1, help="default 0.1")
    g.add_argument(
        "--batch-size",
        type=positive_int,
        dest="mini_batch_size",
        help="default: --train-size, one full-batch step an epoch, as the book",
    )
    g.add_argument("--lmbda", type=nonneg_float, default=5.0, help="L2 λ, default 5.0")
    g.add_argument("--seed", type=nonneg_int, default=0)
    g.add_argument(
        "--out",
        default="gradients",
        metavar="DIR",
        help="folder for gradients.json and gradients.png (default ./gradients)",
    )
    add_device_arg(g)
    add_data_args(g)


def _add_evaluate(sub) -> None:
    """``gpunn evaluate``: saved networks, ensembles or checkpoints."""
    e = sub.add_parser("evaluate", help="accuracy of a saved network, ensemble or checkpoint")
    e.add_argument(
        "model",
        nargs="+",
        help="a saved network, ensemble or checkpoint; several networks (or checkpoints) "
        "are evaluated as one ensemble, each member and the vote and average",
    )
    e.add_argument("--split", choices=["test", "validation", "train"], default="test")
    e.add_argument(
        "--test-shifts",
        action="store_true",
        help="also average each network's output over the image and its four one-pixel "
        "shifts (the book's expansion, at evaluation; five times the work)",
    )
    e.add_argument(
        "--trained-weights",
        action="store_true",
        help="from a checkpoint of an --ema run, the weights trained instead of their moving "
        "average (what the run's epochs reported and --save saved)",
    )
    add_device_arg(e)
    add_data_args(e, dataset=None, help="default: the one the model was trained on, else mnist")


def _add_distortions(sub) -> None:
    """``gpunn distortions``: what ``--expand distort``'s flags do, as a PNG."""
    d = sub.add_parser(
        "distortions",
        help="training digits beside fresh distortions of them (PNG): what --expand "
        "distort's flags do",
    )
    d.add_argument(
        "--deskew",
        action="store_true",
        help="show each digit deskewed too, and distort that, as gpunn train --deskew does",
    )
    d.add_argument(
        "--distort-strength",
        type=positive_float,
        default=1.0,
        metavar="S",
        help="as gpunn train's (default 1)",
    )
    d.add_argument(
        "--distort-scale",
        type=nonneg_float,
        default=0.0,
        metavar="F",
        help="as gpunn train's (default 0)",
    )
    d.add_argument(
        "--elastic-alpha", type=nonneg_float, metavar="A", help="as gpunn train's (default 34·S)"
    )
    d.add_argument("--digits", type=positive_int, default=8, metavar="K", help="rows (default 8)")
    d.add_argument(
        "--draws", type=positive_int, default=7, metavar="N", help="distortions of each (7)"
    )
    d.add_argument("--seed", type=nonneg_int, default=0, help="of the draws (default 0)")
    d.add_argument(
        "--out", default="distortions.png", metavar="PNG", help="default ./distortions.png"
    )
    add_data_args(d)


def _add_curves(sub) -> None:
    """``gpunn curves``: learning curves from ``--metrics`` files."""
    from gpunn.monitor import CURVE_KEYS  # here, not above: see the module's docstring

    c = sub.add_parser("curves", help="learning curves of runs from their --metrics files (PNG)")
    c.add_argument("metrics", nargs="+", metavar="METRICS", help="gpunn train --metrics files")
    c.add_argument(
        "--key",
        action="append",
        choices=CURVE_KEYS,
        metavar="KEY",
        help=f"what to plot (default test_accuracy): {', '.join(CURVE_KEYS)}; given again, "
        "more accuracies share the plot (--key test_accuracy --key raw_test_accuracy)",
    )
    c.add_argument(
        "--x",
        default="epoch",
        choices=["epoch", "images"],
        help="against the epoch, or the training images seen (runs of unlike epochs)",
    )
    c.add_argument(
        "--ylim",
        nargs=2,
        type=float,
        metavar=("LOW", "HIGH"),
        help="the y axis' range, e.g. 99 99.8 for accuracies (in %%)",
    )
    c.add_argument("--out", default="curves.png", metavar="PNG", help="default ./curves.png")


def _add_predict(sub) -> None:
    """``gpunn predict``: images classified by a saved network or ensemble."""
    p = sub.add_parser(
        "predict", help="classify 28×28 grey images (PNG, …) with a saved network or ensemble"
    )
    p.add_argument("model")
    p.add_argument("images", nargs="+")
    add_device_arg(p)
