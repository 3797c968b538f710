#!/usr/bin/env python
"""Training and inference throughput of fc30, conv2-relu and final against PyTorch.

    python bench/run.py                          # auto device, fc30 conv2-relu final, m 10…1024
    python bench/run.py --device cpu --batch-sizes 10,64,256

``gpunn bench`` with its options, errors and exit codes; unless ``--json`` or
``--results-dir`` is given the record goes to bench/results, as
<date>-<device or GPU name>-<host>-<commit>[-dirty][-k].json (never over an earlier run's:
-2, -3, … when the name is taken). The file is rewritten after every row, with
``"complete": false`` until the run ends.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def gpunn_argv(argv: list[str]) -> list[str]:
    """``gpunn bench`` and ``argv``, with ``--results-dir bench/results`` unless the
    arguments name an output."""
    from gpunn.benchmark.cli import add_arguments

    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)  # --help and a bad option end here, as gpunn's would
    named = args.json or args.results_dir
    return ["bench", *argv, *([] if named else ["--results-dir", str(RESULTS)])]


def main(argv: list[str] | None = None) -> int:
    """``gpunn bench`` on ``argv`` (None: this process's arguments, and its signals taken
    as the ``gpunn`` program takes them)."""
    if argv is not None:
        from gpunn.cli import main as gpunn_main

        return gpunn_main(gpunn_argv(argv))
    from gpunn.__main__ import run

    sys.argv = ["gpunn", *gpunn_argv(sys.argv[1:])]
    return run()


if __name__ == "__main__":
    sys.exit(main())
