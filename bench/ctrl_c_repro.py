#!/usr/bin/env python
"""Ctrl-C at random moments of a gpunn command's start-up: how each run ends, tallied.

    python bench/ctrl_c_repro.py --runs 150 --nice 19

Each run starts ``python -m gpunn predict NET FIFO --device cpu`` (a small untrained
network, and a named pipe no one writes, so an uninterrupted run waits for ever), sends
SIGINT after a delay cycling through ``--delays``, and waits ``--timeout`` seconds. A run
that ends is tallied by (exit status, last line of stderr): gpunn's own ending is
``(130, 'gpunn: interrupted')``; a Ctrl-C inside Python's own start-up, before gpunn's
first line, ends in Python's traceback or in death by SIGINT (-2). A traceback is marked
by where it was raised: in gpunn's code (a frame in the package's folder: printed whole),
or before it.
A run still going is tallied as hung, with its threads' signal masks (Linux) and, after
SIGABRT, Python's stacks (``PYTHONFAULTHANDLER``). ``--nice`` and another load on the cores
stretch the start-up, so that more signals land inside it. ``--start-ignoring`` starts each run with
SIGINT ignored, as a shell without job control starts background jobs: gpunn must then
ignore the Ctrl-C at any moment, and each run is stopped by SIGTERM after ``--timeout``.
"""

from __future__ import annotations

import argparse
import collections
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import gpunn

PACKAGE = str(Path(gpunn.__file__).parent) + os.sep  # the folder of gpunn's own code


def _thread_masks(pid: int) -> str:
    """Each thread's name, pending and blocked signals and wait channel (Linux), one line."""
    lines = []
    for task in sorted(Path(f"/proc/{pid}/task").glob("*")):
        status = dict(line.split(":\t", 1) for line in (task / "status").read_text().splitlines())
        fields = " ".join(f"{k} {status[k].strip()}" for k in ("SigPnd", "SigBlk"))
        lines.append(f"{task.name} {fields} {(task / 'wchan').read_text()}")
    return "; ".join(lines)


def one_run(folder: Path, delay: float, args) -> tuple:
    """(exit status, last stderr line), or ('hung', what the process was doing)."""
    command = [sys.executable, "-m", "gpunn", "predict", "net.npz", "digit.png", "--device", "cpu"]
    if args.nice:
        command = ["nice", "-n", str(args.nice), *command]
    disposition = signal.SIG_IGN if args.start_ignoring else signal.SIG_DFL
    proc = subprocess.Popen(
        command,
        cwd=folder,
        env=dict(os.environ, PYTHONFAULTHANDLER="1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, disposition),
    )
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        if args.start_ignoring:  # as it should: then SIGTERM, which it takes
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate()
            return f"ignored, then SIGTERM: {proc.returncode}", _last_line(err)
        masks = _thread_masks(proc.pid) if sys.platform == "linux" else ""
        proc.send_signal(signal.SIGABRT)
        _, err = proc.communicate()
        return "hung", f"{masks}\n{err[-1500:]}"
    if f'File "{PACKAGE}' in err:  # a traceback through gpunn's code: a hole in its handling
        print(f"a traceback in gpunn's code (exit {proc.returncode}):\n{err[-3000:]}", flush=True)
    return proc.returncode, _last_line(err)


def _last_line(err: str) -> str:
    """The last line of stderr, and where a traceback before it was raised."""
    last = err.strip().splitlines()[-1][:60] if err.strip() else ""
    if "Traceback" in err or "Fatal Python error" in err:
        last += " (in gpunn's code)" if f'File "{PACKAGE}' in err else " (before gpunn's)"
    return last


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=150)
    p.add_argument(
        "--delays", default="0.25,0.3,0.35,0.4,0.45,0.5,0.55,0.6", help="seconds, cycled"
    )
    p.add_argument("--timeout", type=float, default=10.0, help="seconds before a run is hung")
    p.add_argument("--nice", type=int, default=0, help="the runs' niceness (0: as this one's)")
    p.add_argument("--start-ignoring", action="store_true", help="start each run ignoring SIGINT")
    args = p.parse_args(argv)
    delays = [float(d) for d in args.delays.split(",")]

    from gpunn.layers import FullyConnected
    from gpunn.network import Network

    tally: collections.Counter = collections.Counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        Network([FullyConnected(10)], input_shape=(784,), device="cpu").save(folder / "net.npz")
        os.mkfifo(folder / "digit.png")
        for i in range(args.runs):
            code, said = one_run(folder, delays[i % len(delays)], args)
            if code == "hung":
                print(f"run {i} (SIGINT at {delays[i % len(delays)]} s) hung: {said}", flush=True)
                said = ""
            tally[(code, said)] += 1
    for (code, said), n in tally.most_common():
        print(f"{n:4d}  {code}  {said}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
