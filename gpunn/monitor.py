"""What the trainer reports each epoch: the record, the printed line, the JSON-lines file
(written here, read back by ``read_metrics``).

The record has ``epoch``, ``eta``, ``seconds``, ``images_per_second`` (training images over
training seconds, evaluation excluded) and the monitored costs and accuracies, None
where not computed. A run with an average of its weights (``ema``) reports the average
there, and the trained weights' accuracies as ``raw_validation_accuracy`` and
``raw_test_accuracy``. Costs are per example and include the L2 term ½(λ/n)Σw² with n the
training set's size (after expansion) on every split: the objective being minimised.
The book's network2 divides by the size of the split evaluated instead, so its
validation cost with λ > 0 is larger than gpunn's.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from gpunn.errors import ConfigError
from gpunn.files import atomic_write_text
from gpunn.values import is_real

ACCURACY_AND_COST_KEYS = (
    ("train_cost", "train cost"),
    ("train_accuracy", "train"),
    ("validation_cost", "validation cost"),
    ("validation_accuracy", "validation"),
    ("test_accuracy", "test"),
)
# what a run with ``ema`` also reports of its trained (not averaged) weights, as raw_KEY
RAW_KEYS = ("validation_accuracy", "test_accuracy")
# what ``gpunn curves --key`` can plot
CURVE_KEYS = [key for key, _ in ACCURACY_AND_COST_KEYS] + [f"raw_{k}" for k in RAW_KEYS] + ["eta"]


def epoch_record(net, config, splits: dict, epoch: int, eta: float, seconds: float) -> dict:
    """Evaluate what ``config`` monitors on ``splits`` {name: (x, labels)} (device arrays,
    already through the network's input transform: ``Network.prepare``)."""
    n = len(splits["train"][0])
    n_trained = (n // config.mini_batch_size) * config.mini_batch_size
    record = {
        "epoch": epoch,
        "eta": eta,
        "seconds": seconds,
        "images_per_second": n_trained / seconds if seconds > 0 else None,
        **{key: None for key, _ in ACCURACY_AND_COST_KEYS},
    }
    wanted = [
        ("train", config.monitor_training_accuracy, config.monitor_training_cost),
        ("validation", config.monitor_validation_accuracy, config.monitor_validation_cost),
        ("test", config.monitor_test_accuracy, False),
    ]
    for name, want_acc, want_cost in wanted:
        if not (want_acc or want_cost) or name not in splits:
            continue
        x, y = splits[name]
        correct, cost = net.evaluate(  # the Trainer checked and prepared every split
            x, y, cost=want_cost, batch_size=config.eval_batch_size, check=False, prepared=True
        )
        if want_acc:
            record[f"{name}_accuracy"] = int(correct) / len(x)
        if want_cost:
            l2 = 0.5 * config.lmbda / n * float(net.weight_norm_sq()) if config.lmbda else 0.0
            record[f"{name}_cost"] = float(cost) / len(x) + l2
    return record


def epoch_line(r: dict, epochs: int) -> str:
    """One plain line for an epoch's record."""
    parts = [
        f"epoch {r['epoch']}/{epochs}",
        f"η {r['eta']:g}",
        f"{r['seconds']:.2f}s ({r['images_per_second'] or 0:,.0f} img/s)",
    ]
    for key, label in ACCURACY_AND_COST_KEYS:
        v = r[key]
        if v is not None:
            parts.append(f"{label} {v:.2%}" if key.endswith("accuracy") else f"{label} {v:.4f}")
    raw = [
        f"{label} {r[f'raw_{key}']:.2%}"
        for key, label in ACCURACY_AND_COST_KEYS
        if key in RAW_KEYS and r.get(f"raw_{key}") is not None
    ]
    if raw:
        parts.append(f"(trained weights: {', '.join(raw)})")
    return "  ".join(parts)


def write_metrics(path, records: list[dict]) -> None:
    """Replace the JSON-lines file at ``path`` with ``records``, one per line, atomically:
    an interrupted or failed run never leaves it cut short, and a file from an earlier run
    stays whole until this run has a record to put in its place. Not fsynced (each epoch;
    the checkpoint, which holds the same history, is)."""
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in records), durable=False)


def read_metrics(path) -> list[dict]:
    """The per-epoch records of a ``--metrics`` file, in order (the final summary left out).

    ConfigError, naming the file and line, for a file that is missing or not gpunn's."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a text file"
        raise ConfigError(f"{path}: cannot read it ({why})") from None
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, RecursionError):  # RecursionError: nested too deep
            record = None
        if not isinstance(record, dict) or not (_is_epoch(record) or record.get("final")):
            raise ConfigError(
                f"{path}, line {number}: not a gpunn metrics record (gpunn train --metrics "
                f"writes one JSON object per epoch)"
            )
        if not record.get("final"):
            records.append(record)
    if not records:
        hint = " (an ensemble's summary: its members' epochs are in FILE.memberK)"
        raise ConfigError(f"{path}: no epoch records in it" + (hint if lines else ""))
    return records


# larger values than these are not ones a run wrote (and would overflow images_seen)
MAX_EPOCH, MAX_SECONDS, MAX_IMAGES_PER_SECOND = 10**9, 1e9, 1e12


def _is_epoch(record: dict) -> bool:
    """An epoch record: a whole epoch number from 1 to MAX_EPOCH, seconds and images per
    second from 0 to their bounds, accuracies from 0 to 1, η finite and ≥ 0, costs
    numbers (NaN too: a diverging run's); each but the first two may be null."""
    epoch, seconds, speed = (record.get(k) for k in ("epoch", "seconds", "images_per_second"))
    accuracies = [key for key, _ in ACCURACY_AND_COST_KEYS if key.endswith("_accuracy")]
    accuracies += [f"raw_{key}" for key in RAW_KEYS]
    costs = [key for key, _ in ACCURACY_AND_COST_KEYS if key.endswith("_cost")]

    def within(key: str, low: float, high: float) -> bool:
        v = record.get(key)
        return v is None or (is_real(v) and low <= v <= high)

    return (
        is_real(epoch) and 1 <= epoch <= MAX_EPOCH and float(epoch).is_integer()
        and is_real(seconds) and 0 <= seconds <= MAX_SECONDS
        and within("images_per_second", 0, MAX_IMAGES_PER_SECOND)
        and within("eta", 0, sys.float_info.max)
        and all(within(key, 0, 1) for key in accuracies)
        and all(record.get(key) is None or is_real(record[key]) for key in costs)
    )  # fmt: skip


def images_seen(records: list[dict]) -> list[int]:
    """Training images seen by the end of each epoch: the running sum of
    images_per_second × seconds (each epoch's whole mini-batches; null: none counted)."""
    total, seen = 0, []
    for r in records:
        total += round((r.get("images_per_second") or 0) * r["seconds"])
        seen.append(total)
    return seen
