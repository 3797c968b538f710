"""What every chapter script shares: arguments, a results folder, and runs recorded with provenance.

A results file carries the device, the date and the git commit of the gpunn that ran
(with "-dirty" when its files differ from it), and each run in it the seconds it took,
so every number in it says where it came from.

Nothing is written until the arguments, the device, the output folder and the data have
been accepted. While the script runs, ``results.partial.json`` and ``run.partial.log`` hold
the runs finished so far; only a run that completes replaces ``results.json``, ``run.log``
and the plots (``Results.completing``: SIGINT and SIGTERM wait for it), so a Ctrl-C or an
error leaves the last complete record whole. Errors are one line (exit 2), SIGINT and
SIGTERM too (exit 130), without a checkpoint: the scripts do not resume.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import gpunn
from gpunn.arguments import nonneg_int, positive_int
from gpunn.errors import GpunnError
from gpunn.files import atomic_write_text, check_output
from gpunn.interrupts import StopRequest, TrainingInterrupted
from gpunn.provenance import commit_words
from gpunn.run_setup import tell
from gpunn.train import Trainer

ROOT = Path(__file__).resolve().parent.parent
EXIT_BAD_INPUT, EXIT_INTERRUPTED = 2, 130


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--device", default=None, choices=["auto", "cpu", "gpu"])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default=None, help="results folder (default scripts/results/<chapter>)")
    p.add_argument(
        "--epochs", type=positive_int, default=None, help="override every run's epochs (quick look)"
    )
    p.add_argument("--seed", type=nonneg_int, default=0)
    return p


def _stop(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM as SIGINT: the files being written are cleaned up


def run(main: Callable[[], None]) -> None:
    """Run a chapter's ``main`` and exit: 0, or one line on stderr and 2 for an error
    gpunn reports (bad input, a missing dataset, a folder that cannot be written) or 130
    for SIGINT / SIGTERM, saying what the results folder holds then."""
    prog = Path(sys.argv[0]).stem
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:  # if not started by starting.py
        signal.signal(signal.SIGTERM, _stop)
    if "starting" in sys.modules:
        sys.modules["starting"].started()
    try:
        main()
    except (TrainingInterrupted, KeyboardInterrupt) as exc:
        _ending()
        why = str(exc) or "interrupted"
        print(f"{prog}: stopped: {why}; {Results.where_things_are()}", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except (GpunnError, OSError) as exc:
        _ending()
        print(f"{prog}: error: {exc}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    except MemoryError as exc:
        _ending()
        print(f"{prog}: error: out of memory: {exc or 'an allocation failed'}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    _ending()
    sys.exit(0)


def _ending() -> None:
    """The script is ending, its files written: SIGINT and SIGTERM are ignored from here,
    so that one during the interpreter's shutdown (a few hundred ms) cannot kill it."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


class Results:
    """A results folder: ``results.json`` gathers every run, ``run.log`` the console lines;
    PNGs sit beside them. A quick look (``--epochs N``) goes to ``<chapter>-epochs<N>``,
    leaving the full run's folder alone. The folder is made at the first save."""

    active: Results | None = None  # the script's, for the message of an interrupt
    PARTIAL = ("results.partial.json", "run.partial.log")

    def __init__(self, chapter: str, args) -> None:
        from gpunn.plots import require

        default = chapter if args.epochs is None else f"{chapter}-epochs{args.epochs}"
        self.dir = check_output(
            args.out or ROOT / "scripts" / "results" / default, "--out", folder=True
        )
        require()  # matplotlib, before any training rather than after
        self.device = gpunn.get_device(args.device)  # a bad device: refused before any write
        self.lines: list[str] = []
        self.runs: dict[str, dict] = {}
        self.complete = False
        Results.active = self
        self.meta = {
            "chapter": chapter,
            "device": self.device.describe(),
            "commit": commit_words(),
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "gpunn": gpunn.__version__,
            "epochs_override": args.epochs,
        }

    @staticmethod
    def where_things_are() -> str:
        """What the results folder holds, for the line of an interrupt."""
        results = Results.active
        if results is None:
            return "nothing was written"
        if results.complete:
            return f"after the complete record was written in {results.dir}"
        done = f"{len(results.runs)} run{'s' * (len(results.runs) != 1)}"
        partial = f", {done} of this one in {results.dir / 'results.partial.json'}"
        return f"the last complete record is as it was{partial if results.runs else ''}"

    def say(self, msg: str) -> None:
        """Print ``msg`` (while anyone reads: a closed pipe stops the printing, not the
        run) and keep it for run.log."""
        self.lines.append(msg)
        tell(msg)

    def train(self, name: str, network, data, config, *, expand=None, book=None) -> dict:
        """Train, record the history and summary under ``name``, and return the summary.
        A signal during the run, or in its last evaluation, ends the script (after saving
        the runs before it as partial)."""
        start = time.perf_counter()
        result = Trainer(
            network,
            data,
            config,
            expand=expand,
            progress=False,
            log=lambda msg: self.say(f"[{name}] {msg}"),
            checkpoint_on_stop=False,
        ).run()
        self.runs[name] = {
            "config": config.to_dict(),
            "expand": expand,
            "book": book,
            "summary": result.summary,
            "history": result.history,
            "wall_seconds": time.perf_counter() - start,
        }
        self.save()
        if result.late_stop:
            raise TrainingInterrupted(f"{result.late_stop} received after {name}", None)
        return result.summary

    def save(self, final: bool = False) -> Path:
        """Write the log and the record (atomically): as partial files, or with ``final``
        as run.log and results.json, the partial files then removed. The JSON's path."""
        self.dir.mkdir(parents=True, exist_ok=True)
        stem, log = ("results", "run") if final else ("results.partial", "run.partial")
        atomic_write_text(self.dir / f"{log}.log", "".join(f"{m}\n" for m in self.lines))
        path = self.dir / f"{stem}.json"
        atomic_write_text(path, json.dumps({**self.meta, "runs": self.runs}, indent=1))
        if final:
            for name in self.PARTIAL:
                (self.dir / name).unlink(missing_ok=True)
        return path

    @contextmanager
    def completing(self) -> Iterator[None]:
        """The script's end: the block draws the plots and says its last lines, then where
        the record goes is said and the complete record is written.
        SIGINT and SIGTERM wait for all of it (then stop the script), so the plots,
        results.json and run.log are of one run. (Handled, not masked: the signal may
        reach any of the process's threads, OpenBLAS's too.)"""
        with StopRequest() as stop, stop.hold():
            yield
            self.say(f"results in {self.dir / 'results.json'}")
            self.save(final=True)
            self.complete = True
        if stop.requested:
            raise KeyboardInterrupt(f"{stop.requested} received")

    def table(self) -> str:
        """Book vs gpunn per run: test accuracy at the best validation epoch (gpunn's
        measure) and the peak test accuracy over the epochs (the book's in chapters 1–3)."""
        lines = [f"{'run':<32} {'book':>6} {'at best val':>11} {'peak test':>9} {'seconds':>8}"]
        for name, r in self.runs.items():
            acc = r["summary"].get("test_accuracy_at_best_validation")
            history = r.get("history", [])  # an ensemble's entry has none
            tests = [h["test_accuracy"] for h in history if h.get("test_accuracy") is not None]
            book = f"{r['book']:.2f}" if r.get("book") else "—"
            got = f"{100 * acc:.2f}" if acc is not None else "—"
            peak = f"{100 * max(tests):.2f}" if tests else "—"
            lines.append(f"{name:<32} {book:>6} {got:>11} {peak:>9} {r['wall_seconds']:>8.1f}")
        return "\n".join(lines)


def preset_run(results: Results, name: str, data, args, *, init=None, label=None, **overrides):
    """Train preset ``name`` on ``data`` (``--epochs``, ``init`` and ``overrides`` applied),
    recorded as ``label`` (default the preset's name) beside the book's number; the network."""
    preset = gpunn.get_preset(name)
    config = preset.config(epochs=args.epochs, seed=args.seed, **overrides)
    net = preset.network(results.device, seed=args.seed, init=init)
    results.train(label or name, net, data, config, expand=preset.expand, book=preset.book_accuracy)
    return net
