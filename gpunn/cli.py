"""gpunn's command line: train, evaluate, predict, presets, bench, gradients, curves, distortions.

Every error gpunn raises on purpose (``GpunnError``) becomes one line on stderr and a
non-zero exit: 2 for bad input, 3 for a numerical failure, 130 for an interrupt.

At its top this module imports only the standard library and gpunn's light modules
(``errors``, ``arguments``, ``signals``): everything heavier (NumPy first) loads inside
``main``'s handler, so that a Ctrl-C during start-up is one line too, not a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from gpunn import signals
from gpunn.arguments import (
    add_data_args,
    add_device_arg,
    nonneg_float,
    nonneg_int,
    positive_float,
    positive_int,
)
from gpunn.errors import GpunnError, NumericalError
from gpunn.signals import EXIT_INTERRUPTED

EXIT_BAD_INPUT, EXIT_NUMERICAL = 2, 3


def build_parser() -> argparse.ArgumentParser:
    from gpunn import __version__
    from gpunn.monitor import CURVE_KEYS  # here, not above: see the module's docstring

    parser = argparse.ArgumentParser(prog="gpunn", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"gpunn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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
    t.add_argument("--metrics", metavar="FILE", help="write per-epoch metrics as JSON lines")
    t.add_argument("--save", metavar="PATH", help="save the trained network (.npz)")
    t.add_argument("--checkpoint-dir", metavar="DIR", help="checkpoint at every epoch end")
    t.add_argument("--keep-checkpoints", type=positive_int, default=3, metavar="K")
    t.add_argument("--resume", metavar="DIR", help="continue from the last good checkpoint")
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

    sub.add_parser("presets", help="list the book's networks")

    from gpunn.benchmark.cli import add_parser as add_bench_parser

    add_bench_parser(sub)

    g = sub.add_parser("gradients", help="chapter 5: each hidden layer's speed of learning")
    g.add_argument("--epochs", type=positive_int, default=30)
    g.add_argument("--train-size", type=positive_int, default=1000, metavar="N")
    g.add_argument("--eta", type=float, default=0.1)
    g.add_argument("--batch-size", type=positive_int, default=10, dest="mini_batch_size")
    g.add_argument("--seed", type=nonneg_int, default=0)
    g.add_argument(
        "--out",
        default="gradients",
        metavar="DIR",
        help="folder for gradients.json and gradients.png (default ./gradients)",
    )
    add_device_arg(g)
    add_data_args(g)

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

    d = sub.add_parser(
        "distortions",
        help="training digits beside fresh distortions of them (PNG): what --expand "
        "distort's flags do",
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

    p = sub.add_parser(
        "predict", help="classify 28×28 grey images (PNG, …) with a saved network or ensemble"
    )
    p.add_argument("model")
    p.add_argument("images", nargs="+")
    add_device_arg(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The ``gpunn`` program (``argv`` None: the process's own arguments and signals).

    Outside training, SIGINT and SIGTERM stop it with one line and exit 130, and so does a
    signal received while the command ran that a library caught and dropped, or made its
    own error (``gpunn.signals``)."""
    own_signals = argv is None
    if own_signals:
        signals.record()  # already, when started by gpunn.__main__
    try:
        return _report_interrupts(argv, own_signals)
    finally:  # however it ends (argparse's --help too): no re-send, no record left
        if own_signals:
            signals.settle()


def _report_interrupts(argv: list[str] | None, own_signals: bool) -> int:
    """``_run``'s exit status, 130 and one line when a signal ended it or came during it."""
    interrupted = False
    try:
        code = _run(argv, own_signals)
    except KeyboardInterrupt:  # outside training, or a second Ctrl-C in it: stop at once
        interrupted = True
    except (Exception, SystemExit):
        if not (own_signals and signals.received):
            raise
        interrupted = True  # a library made the Ctrl-C its own error (NumPy: ImportError)
    finally:
        if own_signals:
            signals.stop_saying_again()
    if interrupted or (own_signals and signals.received and code != EXIT_INTERRUPTED):
        return signals.interrupted()
    return code


def _run(argv: list[str] | None, own_signals: bool) -> int:
    with signals.held():
        args = build_parser().parse_args(argv)
        from gpunn import commands, inspect_commands

    name = f"cmd_{args.command}"
    handler = getattr(commands, name, None) or getattr(inspect_commands, name)
    try:
        from gpunn.kernels.threads import workers

        workers()  # a bad GPUNN_CPU_THREADS is refused now, before any work
        if own_signals and signals.received:  # one an import caught and dropped: stop
            raise KeyboardInterrupt
        return handler(args) or 0
    except NumericalError as exc:
        print(f"gpunn: error: {exc}", file=sys.stderr)
        return EXIT_NUMERICAL
    except GpunnError as exc:
        from gpunn.interrupts import TrainingInterrupted

        print(
            f"gpunn: {'stopped' if isinstance(exc, TrainingInterrupted) else 'error'}: {exc}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED if isinstance(exc, TrainingInterrupted) else EXIT_BAD_INPUT
    except BrokenPipeError:  # the reader went away (gpunn predict … | head): not an error
        try:  # and Python's own flush of stdout at exit must not complain either
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 0
    except OSError as exc:  # a full disk, an unwritable folder: still one line
        print(f"gpunn: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except MemoryError as exc:  # a model file's absurd sizes, a batch too large (CuPy's too)
        print(f"gpunn: error: out of memory: {str(exc) or 'an allocation failed'}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
