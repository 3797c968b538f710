#!/usr/bin/env python
"""Training and inference throughput of fc30, conv2-relu and final against PyTorch.

    python bench/run.py                          # auto device, fc30 conv2-relu final, m 10…1024
    python bench/run.py --device cpu --batch-sizes 10,64,256

Takes every ``gpunn bench`` option; unless ``--json`` is given the record goes to
bench/results/<date>-<device or GPU name>-<host>-<commit>[-dirty][-k].json (never over an
earlier run's: -2, -3, … when the name is taken). The
file is rewritten after every row, with ``"complete": false`` until the run ends.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    from gpunn.benchmark.cli import add_arguments, benchmark
    from gpunn.benchmark.report import (
        TABLE_HEADER,
        default_result_name,
        format_row,
        kernel_table,
        reasons,
        write_json,
    )

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    if args.json:  # before the first row is measured, not after
        from gpunn.errors import ConfigError
        from gpunn.files import check_output

        try:
            check_output(args.json, "--json")
        except ConfigError as exc:
            parser.error(str(exc))
    paths: list[Path] = []

    def save(record: dict) -> None:  # the name is chosen once, at the first save
        if not paths:
            env = record["environment"]
            taken = lambda n: (RESULTS / n).exists()  # noqa: E731
            paths.append(Path(args.json or RESULTS / default_result_name(env, taken)))
        write_json(paths[0], record)

    print(TABLE_HEADER, flush=True)
    record = benchmark(args, lambda row: print("\n".join(format_row(row)), flush=True), save)
    print("\n".join(reasons(record["rows"])))
    print(f"data: {record['data']}")
    print(kernel_table(record["kernels"]))
    print(f"wrote {paths[0]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
