"""Best-validation bookkeeping: the book's reported accuracy, the η schedule and early stopping.

- The reported test accuracy is the one at the epoch of best validation accuracy.
- Schedule (``patience``): halve η when validation accuracy has not improved for that
  many epochs; stop once η has fallen to η₀·``eta_floor`` (the book: η₀/128).
- Early stopping (``early_stopping``): stop after that many epochs without improvement.
- ``step_eta``: the η of one step, from the tracker's η, a linear warm-up and an optional
  cosine annealing.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from gpunn.values import is_finite_in, is_integer

ANNEALS = ("none", "cosine")


def step_eta(eta: float, t: int, warmup_steps: int, total_steps: int, anneal: str) -> float:
    """η of step t (0-based) of ``total_steps``.

    Warm-up: η·(t + 1)/W for the first W = ``warmup_steps`` steps. Then, with
    ``anneal="cosine"``, η·½(1 + cos(π (t − W)/(T − W))) with T = ``total_steps``: η at
    the end of the warm-up, falling smoothly to near 0 at the last step; else η.
    """
    if t < warmup_steps:
        return eta * (t + 1) / warmup_steps
    if anneal == "cosine" and total_steps > warmup_steps:
        return (
            eta * 0.5 * (1 + math.cos(math.pi * (t - warmup_steps) / (total_steps - warmup_steps)))
        )
    return eta


def eta_steps(warmup_epochs: float, epochs: int, n_batches: int) -> tuple[int, int]:
    """(W, T) of ``step_eta`` for a run of ``epochs`` epochs of ``n_batches`` steps, the
    warm-up ``warmup_epochs`` long rounded to whole steps."""
    return round(warmup_epochs * n_batches), epochs * n_batches


@dataclass
class Tracker:
    eta0: float
    eta: float
    schedule: int | None = None
    eta_floor: float = 1 / 128
    early_stopping: int | None = None
    best_validation_accuracy: float | None = None
    best_epoch: int | None = None
    test_accuracy_at_best_validation: float | None = None
    since_best: int = 0
    since_change: int = 0
    stop_reason: str | None = None

    def check(self) -> Tracker:
        """Self, or ValueError naming a field that no run could have left so (a tracker
        read back from a checkpoint file)."""
        for name in ("eta0", "eta", "eta_floor"):
            if not is_finite_in(getattr(self, name), low=0.0) or getattr(self, name) == 0:
                raise ValueError(f"the tracker's {name} is not a positive number")
        for name in ("since_best", "since_change", "schedule", "early_stopping", "best_epoch"):
            v = getattr(self, name)
            optional = name not in ("since_best", "since_change")
            if not (v is None and optional) and not (is_integer(v) and v >= 0):
                raise ValueError(f"the tracker's {name} is not a count")
        for name in ("best_validation_accuracy", "test_accuracy_at_best_validation"):
            v = getattr(self, name)
            if v is not None and not is_finite_in(v, low=0.0, high=1.0):
                raise ValueError(f"the tracker's {name} is not an accuracy")
        if not isinstance(self.stop_reason, str | None):
            raise ValueError("the tracker's stop_reason is not text")
        return self

    def update(self, epoch: int, validation_accuracy, test_accuracy) -> None:
        """Record one epoch's accuracies; may lower η or set ``stop_reason``."""
        if validation_accuracy is None:
            return
        if (
            self.best_validation_accuracy is None
            or validation_accuracy > self.best_validation_accuracy
        ):
            self.best_validation_accuracy = validation_accuracy
            self.best_epoch = epoch
            self.test_accuracy_at_best_validation = test_accuracy
            self.since_best = self.since_change = 0
        else:
            self.since_best += 1
            self.since_change += 1
        if self.schedule and self.since_change >= self.schedule:
            self.eta /= 2.0
            self.since_change = 0
            if self.eta <= self.eta0 * self.eta_floor * (1 + 1e-9):
                self.stop_reason = f"η fell to η₀/{round(1 / self.eta_floor)}"
        if self.early_stopping and self.since_best >= self.early_stopping:
            self.stop_reason = f"no improvement in {self.early_stopping} epochs"

    def state(self) -> dict:
        return asdict(self)
