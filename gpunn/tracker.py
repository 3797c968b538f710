"""Best-validation bookkeeping: the book's reported accuracy, the η schedule and early stopping.

- The reported test accuracy is the one at the epoch of best validation accuracy.
- Schedule (``patience``): halve η when validation accuracy has not improved for that
  many epochs; stop once η has fallen to η₀·``eta_floor`` (the book: η₀/128).
- Early stopping (``early_stopping``): stop after that many epochs without improvement.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


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
