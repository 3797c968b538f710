"""What every chapter script shares: arguments, a results folder, and runs recorded with provenance.

A results file carries the device, the date and the git commit, and each run in it the
seconds it took, so every number in it says where it came from.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import time
from pathlib import Path

import gpunn
from gpunn.train import Trainer

ROOT = Path(__file__).resolve().parent.parent


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--device", default=None, choices=["auto", "cpu", "gpu"])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default=None, help="results folder (default scripts/results/<chapter>)")
    p.add_argument(
        "--epochs", type=int, default=None, help="override every run's epochs (quick look)"
    )
    p.add_argument("--seed", type=int, default=0)
    return p


def commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            text=True,
            capture_output=True,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


class Results:
    """A results folder: ``results.json`` gathers every run, ``run.log`` the console lines;
    PNGs sit beside them. A quick look (``--epochs N``) goes to ``<chapter>-epochs<N>``,
    leaving the full run's folder alone."""

    def __init__(self, chapter: str, args) -> None:
        default = chapter if args.epochs is None else f"{chapter}-epochs{args.epochs}"
        self.dir = Path(args.out or ROOT / "scripts" / "results" / default)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.dir / "run.log"
        self.log_path.write_text("")
        self.device = gpunn.get_device(args.device)
        self.runs: dict[str, dict] = {}
        self.meta = {
            "chapter": chapter,
            "device": self.device.describe(),
            "commit": commit(),
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "gpunn": gpunn.__version__,
            "epochs_override": args.epochs,
        }

    def say(self, msg: str) -> None:
        """Print ``msg`` and append it to run.log."""
        print(msg, flush=True)
        with open(self.log_path, "a") as f:
            f.write(msg + "\n")

    def train(self, name: str, network, data, config, *, expand=None, book=None) -> dict:
        """Train, record the history and summary under ``name``, and return the summary."""
        start = time.perf_counter()
        result = Trainer(
            network,
            data,
            config,
            expand=expand,
            progress=False,
            log=lambda msg: self.say(f"[{name}] {msg}"),
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
        return result.summary

    def save(self) -> Path:
        path = self.dir / "results.json"
        path.write_text(json.dumps({**self.meta, "runs": self.runs}, indent=1))
        return path

    def table(self) -> str:
        """Book vs gpunn per run: test accuracy at the best validation epoch (gpunn's
        measure) and the peak test accuracy over the epochs (the book's in chapters 1–3)."""
        lines = [f"{'run':<32} {'book':>6} {'at best val':>11} {'peak test':>9} {'seconds':>8}"]
        for name, r in self.runs.items():
            acc = r["summary"].get("test_accuracy_at_best_validation")
            tests = [h["test_accuracy"] for h in r["history"] if h.get("test_accuracy") is not None]
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
