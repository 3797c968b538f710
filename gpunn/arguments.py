"""The command line's argument types and shared options: values argparse checks before any
work (a positive integer, a finite non-negative number), and the data and device options
that several sub-commands take."""

from __future__ import annotations

import argparse


def int_at_least(lowest: int, what: str):
    """An argparse type: an integer ≥ ``lowest``, else one clear message."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if v < lowest:
            raise argparse.ArgumentTypeError(f"must be a {what} integer, got {v}")
        return v

    return parse


positive_int = int_at_least(1, "positive")
nonneg_int = int_at_least(0, "non-negative")


def float_above_zero(inclusive: bool):
    """An argparse type: a finite number > 0 (≥ 0 when ``inclusive``), else one clear message."""
    what = "non-negative" if inclusive else "positive"

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not ((0 <= v) if inclusive else (0 < v)) or not v < float("inf"):
            raise argparse.ArgumentTypeError(f"must be a finite {what} number, got {text}")
        return v

    return parse


nonneg_float = float_above_zero(inclusive=True)
positive_float = float_above_zero(inclusive=False)


def path_text(text: str) -> str:
    """An argparse type: a file or folder name, not empty (an unset shell variable, as
    ``--resume "$DIR"``, must not mean "no --resume" or the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("give a file or folder name, not an empty one")
    return text


def add_data_args(
    p: argparse.ArgumentParser, dataset: str | None = "mnist", help: str = "default mnist"
) -> None:
    p.add_argument("--dataset", default=dataset, choices=["mnist", "fashion-mnist"], help=help)
    p.add_argument(
        "--data-dir",
        type=path_text,
        help="folder with the dataset files (default: $GPUNN_DATA, then the user cache folder)",
    )


def add_device_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--device",
        choices=["auto", "cpu", "gpu"],
        default=None,
        help="where arrays live (default: $GPUNN_DEVICE, else auto)",
    )
