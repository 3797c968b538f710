"""``TrainConfig``: every hyper-parameter of a training run, validated in one place.

``lmbda`` and ``l1`` are in the book's network2 units: the update decays weights by
(1 − ηλ/n) with n the number of training images. (network3's λ corresponds to
λ·mini_batch_size here.) ``ema`` β > 0 evaluates and keeps an exponential moving
average of the weights, a ← β a + (1 − β) w after each step (``gpunn.optim``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from gpunn.errors import ConfigError
from gpunn.optim import check_hyper
from gpunn.tracker import ANNEALS
from gpunn.values import check_positive_integer, is_integer, is_real, plain

NAN_POLICIES = ("stop", "skip-batch")
# "shuffled": a fresh permutation each epoch; "fixed": the training set's own order every
# epoch, as network3's SGD takes its mini-batches
ORDERS = ("shuffled", "fixed")
# the settings that mean something only with expand="distort", and their defaults
DISTORTION_DEFAULTS = {"distort_strength": 1.0, "distort_scale": 0.0, "elastic_alpha": None}


# Distortions past these leave no digit to learn (shifts of 20 px, turns of 100°, α ten
# times Simard's 34): a bound, so that a slip of the keyboard is an error, not an overflow.
MAX_DISTORT_STRENGTH = 10.0
MAX_ELASTIC_ALPHA = 340.0


def _check_finite(
    name: str, v: object, what: str, zero_ok: bool = False, most: float = float("inf")
) -> None:
    """ConfigError unless v is a finite real number > 0 (≥ 0 when ``zero_ok``), ≤ ``most``."""
    if not is_real(v) or not ((0 <= v) if zero_ok else (0 < v)) or not v < float("inf") or v > most:
        raise ConfigError(f"{name} must be {what}, got {v!r}")


@dataclass
class TrainConfig:
    epochs: int = 30
    mini_batch_size: int = 10
    eta: float = 3.0
    lmbda: float = 0.0
    l1: float = 0.0
    momentum: float = 0.0
    # β of the weights' moving average that is evaluated and kept (0: none); the schedule,
    # early stopping and the best epoch then follow the average's validation accuracy
    ema: float = 0.0
    schedule: int | None = None  # halve η after this many epochs without improvement
    eta_floor: float = 1 / 128  # with a schedule, stop once η ≤ η₀·eta_floor
    early_stopping: int | None = None  # stop after this many epochs without improvement
    warmup: float = 0.0  # epochs over which η rises linearly from η/W to η (W: their steps)
    anneal: str = "none"  # "cosine": η falls as ½(1 + cos) to near 0 by the last step
    order: str = "shuffled"  # the mini-batches' order each epoch (ORDERS)
    distort_strength: float = 1.0  # expand="distort": scales shifts, rotations, elastic α (if None)
    distort_scale: float = 0.0  # with expand="distort": size factors drawn from [1 − F, 1 + F]
    elastic_alpha: float | None = None  # with expand="distort": α instead of 34·strength
    monitor_training_cost: bool = False
    monitor_training_accuracy: bool = False
    monitor_validation_cost: bool = False
    monitor_validation_accuracy: bool = True
    monitor_test_accuracy: bool = True
    seed: int = 0
    nan_policy: str = "stop"
    eval_batch_size: int = 1000

    def check(self, n_train: int | None = None, n_validation: int | None = None) -> TrainConfig:
        """Raise ConfigError for any value out of range, or (given the data's sizes) one the
        data cannot serve; returns self, its numbers made Python's own (JSON-ready)."""
        for f in fields(self):
            setattr(self, f.name, plain(getattr(self, f.name)))
        for name in ("epochs", "mini_batch_size", "eval_batch_size"):
            check_positive_integer(name, getattr(self, name))
        for name in ("schedule", "early_stopping"):
            v = getattr(self, name)
            if v is not None and (not is_integer(v) or v < 1):
                raise ConfigError(f"{name} must be a positive integer or None, got {v!r}")
        check_hyper(self.eta, self.lmbda, self.l1, self.momentum, self.ema)
        _check_finite("warmup", self.warmup, "a non-negative number of epochs", zero_ok=True)
        if self.warmup > self.epochs:
            raise ConfigError(
                f"warmup ({self.warmup:g} epochs) must end by the run's end "
                f"({self.epochs} epochs): η would never reach {self.eta:g}"
            )
        _check_finite(
            "distort_strength",
            self.distort_strength,
            f"a positive number up to {MAX_DISTORT_STRENGTH:g}",
            most=MAX_DISTORT_STRENGTH,
        )
        _check_finite("distort_scale", self.distort_scale, "a number in [0, 1)", zero_ok=True)
        if not self.distort_scale < 1:
            raise ConfigError(
                f"distort_scale must be a number in [0, 1), got {self.distort_scale!r}"
            )
        if self.elastic_alpha is not None:
            _check_finite(
                "elastic_alpha",
                self.elastic_alpha,
                f"a non-negative number up to {MAX_ELASTIC_ALPHA:g}",
                zero_ok=True,
                most=MAX_ELASTIC_ALPHA,
            )
        if self.anneal not in ANNEALS:
            raise ConfigError(f"anneal must be one of {', '.join(ANNEALS)}, got {self.anneal!r}")
        if self.order not in ORDERS:
            raise ConfigError(f"order must be one of {', '.join(ORDERS)}, got {self.order!r}")
        if not is_real(self.eta_floor) or not 0 < self.eta_floor < 1:
            raise ConfigError(f"eta_floor must be in (0, 1), got {self.eta_floor!r}")
        if self.nan_policy not in NAN_POLICIES:
            raise ConfigError(
                f"nan_policy must be one of {', '.join(NAN_POLICIES)}, got {self.nan_policy!r}"
            )
        if not is_integer(self.seed) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {self.seed!r}")
        if n_train is not None and self.mini_batch_size > n_train:
            raise ConfigError(
                f"the mini-batch size ({self.mini_batch_size}) is larger than the "
                f"training data ({n_train} images)"
            )
        steered = self.validation_steered()
        if steered and (n_validation == 0 or not self.monitor_validation_accuracy):
            settings = " and ".join(f"{name}={v}" for name, v in steered)
            verb = "follows" if len(steered) == 1 else "follow"
            why = (
                "there are no validation images"
                if n_validation == 0
                else "monitor_validation_accuracy is off"
            )
            raise ConfigError(f"{settings} {verb} validation accuracy, but {why}")
        return self

    def distortion_settings(self) -> list[tuple[str, float]]:
        """The distortion settings that differ from their defaults, (name, value): they
        mean something only with expand="distort"."""
        return [
            (k, getattr(self, k)) for k, v in DISTORTION_DEFAULTS.items() if getattr(self, k) != v
        ]

    def validation_steered(self) -> list[tuple[str, int]]:
        """The settings that follow validation accuracy, (name, value), when set."""
        return [(k, getattr(self, k)) for k in ("schedule", "early_stopping") if getattr(self, k)]

    def evaluation_only(self) -> TrainConfig:
        """This config monitoring only validation and test accuracy (what a run with
        ``ema`` also reports of its trained weights)."""
        return replace(
            self,
            monitor_training_cost=False,
            monitor_training_accuracy=False,
            monitor_validation_cost=False,
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        if not isinstance(d, dict):
            raise ConfigError(f"training settings must be a dict, got {type(d).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"unknown training settings: {', '.join(sorted(unknown))}")
        return cls(**d)
