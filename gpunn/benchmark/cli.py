"""``gpunn bench``: training and inference throughput of presets against PyTorch.

Wire it into ``gpunn.cli`` with ``add_parser(subparsers)``; ``run(args)`` returns the
exit status.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext

from gpunn.arguments import nonneg_float, path_text, positive_float
from gpunn.benchmark.peers import PEERS, torch_threads
from gpunn.benchmark.subjects import EAGER_PEER

MAX_BATCH = 65536  # the largest mini-batch measured (bench memory stays within a machine's)


def _csv(kind, choices=None):
    def parse(text: str):
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError("give at least one value")
        try:
            values = tuple(kind(t) for t in items)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a list of {kind.__name__}") from None
        bad = [
            v
            for v in values
            if (choices and v not in choices) or (kind is int and not 1 <= v <= MAX_BATCH)
        ]
        if bad:
            raise argparse.ArgumentTypeError(f"not allowed: {', '.join(map(str, bad))}")
        twice = sorted({str(v) for v in values if values.count(v) > 1})
        if twice:  # two runners of one name would write over each other's samples
            raise argparse.ArgumentTypeError(f"given twice: {', '.join(twice)}")
        return values

    return parse


def _peers(text: str) -> tuple[str, ...]:
    values = _csv(str, PEERS + (EAGER_PEER, "none"))(text)
    if "none" in values and len(values) > 1:
        raise argparse.ArgumentTypeError("none stands alone: no peer, or a list of peers")
    return () if "none" in values else values


def _positive(kind):
    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not 0 < v < float("inf"):
            raise argparse.ArgumentTypeError(f"must be a finite positive number, got {text}")
        return v

    return parse


MAX_WAIT = 3600.0  # the longest --gap or --quiet-timeout, in seconds


def _wait_seconds(text: str) -> float:
    """An argparse type: seconds to wait, from 0 to MAX_WAIT."""
    v = nonneg_float(text)
    if v > MAX_WAIT:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_WAIT:g} seconds, got {text}")
    return v


def _finite_float(text: str) -> float:
    """An argparse type: any finite number (a negative one may mean "off")."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not abs(v) < float("inf"):  # also NaN
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return v


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``bench`` options (also used by bench/run.py)."""
    p.add_argument("--device", choices=["auto", "cpu", "gpu"], default="auto")
    p.add_argument("--presets", type=_csv(str), default=("fc30", "conv2-relu", "final"))
    p.add_argument("--batch-sizes", type=_csv(int), default=(10, 64, 256, 1024), metavar="M,…")
    p.add_argument("--modes", type=_csv(str, ("train", "infer")), default=("train", "infer"))
    p.add_argument(
        "--peers",
        type=_peers,
        default=None,
        metavar="P,…",
        help="torch (default threads), torch-1t (one thread), torch-compile, gpunn-eager "
        "(gpunn without CUDA graphs), or none "
        "(default: torch,torch-1t on the CPU, torch,torch-compile on the GPU)",
    )
    p.add_argument("--repeats", type=_positive(int), default=5, help="measurements per side")
    p.add_argument(
        "--seconds", type=positive_float, default=1.0, help="time budget per measurement"
    )
    p.add_argument("--warmup-steps", type=_positive(int), default=3)
    p.add_argument(
        "--max-load",
        type=_finite_float,
        default=0.25,
        metavar="CORES",
        help="redo a round in which other processes used more CPU cores than this "
        "(a negative value turns the check off; default 0.25)",
    )
    p.add_argument(
        "--quiet-timeout",
        type=_wait_seconds,
        default=10.0,
        metavar="S",
        help="seconds to wait for a quiet machine before each round (default 10)",
    )
    p.add_argument(
        "--gap",
        type=_wait_seconds,
        metavar="S",
        help="idle seconds before each measurement, so that the other side's spinning "
        "worker threads sleep first (default 0.5 on the CPU, 0 on a GPU)",
    )
    p.add_argument(
        "--torch-threads",
        type=_positive(int),
        help="threads of the torch peer (default: torch's own choice)",
    )
    p.add_argument(
        "--data",
        choices=["auto", "mnist", "random"],
        default="auto",
        help="MNIST batches (auto: when they load) or random pixels",
    )
    p.add_argument("--data-dir", help="folder with MNIST (default: $GPUNN_DATA, then the cache)")
    p.add_argument(
        "--kernels",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="GPU conv/pool micro-benchmarks and peak memory (GPU only)",
    )
    out = p.add_mutually_exclusive_group()
    out.add_argument(
        "--json", type=path_text, metavar="PATH", help="write every row and the machine to PATH"
    )
    out.add_argument(
        "--results-dir",
        type=path_text,
        metavar="DIR",
        help="write the JSON into DIR as <date>-<device or GPU>-<host>-<commit>[-dirty][-k].json "
        "(never over an earlier run's; bench/run.py's default: bench/results)",
    )


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``bench`` sub-command to ``gpunn``'s sub-parsers."""
    p = subparsers.add_parser(
        "bench", help="training/inference images/s of presets against PyTorch"
    )
    add_arguments(p)
    return p


def benchmark(args, log=None, save=None) -> dict:
    """Run everything ``args`` asks for; the whole record (environment, config, rows).

    ``log(row)`` sees each row as it is done; ``save(record)`` gets the record so far
    after the kernel micro-benchmarks (when they ran) and after every row (``"complete":
    false`` until the last), so that a run cut short (a time limit, an interrupt) keeps
    what it measured. The kernel micro-benchmarks (GPU only, about a minute) run first
    for that reason. Everything that can refuse the run (the device, the presets, the
    data, ``--json`` naming a data file) is checked before the first save.
    """
    from gpunn.backend import get_device
    from gpunn.benchmark.harness import BenchConfig, run_throughput
    from gpunn.benchmark.kernels import run_kernels
    from gpunn.benchmark.report import SCHEMA, environment
    from gpunn.benchmark.subjects import load_images
    from gpunn.files import check_not_input
    from gpunn.presets import get_preset

    device = get_device(args.device)
    peers = args.peers
    if peers is None:
        peers = ("torch", "torch-compile") if device.is_gpu else ("torch", "torch-1t")
    for name in args.presets:  # an unknown name fails here, before any file is written
        get_preset(name)
    images = load_images(args.data, args.data_dir)
    if getattr(args, "json", None):
        check_not_input(args.json, "--json", images.files)
    uses_torch = any(peer in PEERS for peer in peers)
    save = save or (lambda record: None)
    with torch_threads(args.torch_threads) if uses_torch else nullcontext() as threads:
        config = BenchConfig(
            presets=tuple(args.presets),
            batch_sizes=tuple(args.batch_sizes),
            modes=tuple(args.modes),
            device=device.name,
            peers=tuple(peers),
            repeats=args.repeats,
            seconds=args.seconds,
            warmup_steps=args.warmup_steps,
            data=args.data,
            data_dir=args.data_dir,
            max_load=None if args.max_load < 0 else args.max_load,
            quiet_timeout=args.quiet_timeout,
            gap=args.gap,
            torch_threads=threads,
        )
        record = {
            "schema": SCHEMA,
            "environment": environment(device),  # torch on the peer's threads already
            "config": config.to_dict(),
            "complete": False,
            "rows": [],
        }
        record["kernels"] = run_kernels(device) if args.kernels else {"skipped": "--no-kernels"}
        if "skipped" not in record["kernels"]:
            save(record)

        def row_done(row: dict) -> None:
            record["rows"].append(row)
            save(record)
            if log is not None:
                log(row)

        _, record["data"] = run_throughput(config, row_done, images)
    record["complete"] = True
    save(record)
    return record


def run(args) -> int:
    """``gpunn bench``: print the table as rows finish, write the JSON; 0 on success."""
    from pathlib import Path

    from gpunn.benchmark.report import (
        TABLE_HEADER,
        default_result_name,
        format_row,
        kernel_table,
        reasons,
        write_json,
    )
    from gpunn.errors import ConfigError
    from gpunn.files import check_output

    paths: list[Path] = []  # the file written, chosen at the first save

    header = [TABLE_HEADER]  # printed with the first row, once nothing can refuse the run

    def log(row):
        print("\n".join([*header, *format_row(row)]), flush=True)
        header.clear()

    def save(record):
        if not paths and args.json:
            paths.append(Path(args.json))
        elif not paths and args.results_dir:
            folder = Path(args.results_dir)
            name = default_result_name(record["environment"], lambda n: (folder / n).exists())
            paths.append(folder / name)
        if paths:
            write_json(paths[0], record)

    if args.json:
        check_output(args.json, "--json")
    if args.results_dir:
        check_output(args.results_dir, "--results-dir", folder=True)

    try:
        record = benchmark(args, log, save)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    env = record["environment"]
    torch = env["torch"]
    threads = (
        f", torch {torch['version']} on {torch['num_threads']} threads"
        if torch.get("available")
        else ""
    )
    print("\n".join(reasons(record["rows"])))
    print(
        f"data: {record['data']}; {env['cpu']['model']} ({env['cpu']['cores']} cores){threads}",
        flush=True,
    )
    print(kernel_table(record["kernels"]))
    if paths:
        print(f"wrote {paths[0]}", file=sys.stderr)
    return 0
