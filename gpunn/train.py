"""The epoch loop: mini-batch SGD on the network's device, monitoring, checkpoints, resume.

Per epoch: shuffle (a permutation from SeedSequence([seed, epoch]), gathered on the
device once; ``order="fixed"`` keeps the training set's own order, as network3 did),
run every full mini-batch (the last incomplete one is dropped, as in
network3), then evaluate. Nothing is copied to the host per batch: accuracy and cost
are summed on the device and read once per epoch.
"""

from __future__ import annotations

import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gpunn.checkpoint import save_checkpoint, unused_checkpoint_dir
from gpunn.config import TrainConfig
from gpunn.data.expand import distort_epoch, expand_training_data
from gpunn.errors import NumericalError
from gpunn.interrupts import StopRequest, TrainingInterrupted
from gpunn.monitor import RAW_KEYS, epoch_line, epoch_record, write_metrics
from gpunn.optim import SGD
from gpunn.progress import ProgressBar
from gpunn.rollback import Snapshot, grads_finite, non_finite_layers, restore, take_snapshot
from gpunn.step import TrainStep
from gpunn.tracker import Tracker, eta_steps, step_eta
from gpunn.train_inputs import checked_inputs


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    # a SIGINT/SIGTERM that came after the last batch (in the last evaluation or save)
    late_stop: str | None = None


def epoch_permutation(seed: int, epoch: int, n: int) -> np.ndarray:
    """The shuffle of epoch ``epoch``: a pure function of (seed, epoch)."""
    return np.random.default_rng([seed, epoch]).permutation(n)


class Trainer:
    """Trains ``network`` on ``data`` (train / validation / test splits) under ``config``.

    The splits are checked first (``Network.check_examples``): a bad one raises ShapeError or
    DataError before any training. ``cuda_graphs``: replay each step from a CUDA graph on
    the GPU (``gpunn.step``); None leaves it to ``GPUNN_CUDA_GRAPHS`` (on by default).
    ``checkpoint_on_stop`` False: a SIGINT/SIGTERM stops the run without writing a
    checkpoint (for studies that cannot be resumed: ``gpunn gradients``, scripts/).
    With ``config.ema`` the network ends ``run()`` holding the average of its weights (what
    was evaluated); a second ``run()`` would train on from there.
    """

    def __init__(
        self,
        network,
        data,
        config: TrainConfig,
        *,
        checkpoint_dir=None,
        keep_checkpoints: int = 3,
        metrics_path=None,
        log=None,
        progress=None,
        expand: str | None = None,
        run_info: dict | None = None,
        cuda_graphs: bool | None = None,
        checkpoint_on_stop: bool = True,
    ) -> None:
        self.config = checked_inputs(
            network, data, config, checkpoint_dir, keep_checkpoints, metrics_path, expand, run_info
        )
        self.net, self.data = network, data
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.keep_checkpoints = keep_checkpoints
        self.metrics_path = Path(metrics_path) if metrics_path else None
        self.log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self.progress = progress
        self.distort = expand == "distort"
        self.run_info = dict(run_info or {})
        c = self.config
        dev, dt = network.device, network.dtype
        # the input transform (if any) once, before the expansion, not per batch
        self.train_x = network.prepare(data.train.x)
        self.train_y = dev.send(data.train.y, np.int64)
        if expand is not None:
            self.train_x, self.train_y = expand_training_data(
                expand, self.train_x, self.train_y, network.input_shape
            )
        self.optimizer = SGD(c.eta, c.lmbda, c.l1, c.momentum, n=len(self.train_x), ema=c.ema)
        # skip-batch reads each batch's gradients on the host: no graph for it
        graphs = cuda_graphs if c.nan_policy == "stop" else False
        self.train_step = TrainStep(
            network, self.optimizer, c.mini_batch_size, c.seed, graphs=graphs, log=self.log
        )
        self.tracker = Tracker(c.eta, c.eta, c.schedule, c.eta_floor, c.early_stopping)
        self.epoch = self.batch = self.step = 0
        self.history: list[dict] = []
        self.total_seconds = 0.0
        self.train_onehot = network.xp.eye(network.n_outputs, dtype=dt)[self.train_y]
        self.eval_sets = {
            name: (network.prepare(split.x), dev.send(split.y, np.int64))
            for name, split in (("validation", data.validation), ("test", data.test))
            if split is not None and len(split.x)
        }
        self.checkpoint_on_stop = checkpoint_on_stop
        self._on_disk: tuple[tuple[int, int, int], Path] | None = None  # position, checkpoint
        self._stop: StopRequest | None = None  # run()'s, so that checkpoint writes can hold

    # --- state for checkpoints --------------------------------------------------------
    def state(self) -> dict:
        return {
            "epoch": self.epoch,
            "batch": self.batch,
            "step": self.step,
            "tracker": self.tracker.state(),
            "history": self.history,
            "total_seconds": self.total_seconds,
            "config": self.config.to_dict(),
            "run_info": self.run_info,
        }

    def restore(self, train_state: dict, params: dict, buffers: dict, path=None) -> None:
        """Continue from a checkpoint read by ``gpunn.checkpoint.read_checkpoint`` (at ``path``):
        its training state, parameters and optimizer buffers (velocities, averages).

        With ``path``, saving this very state again (an interrupt or a NaN before the
        next batch) points to that file instead of rewriting it.
        """
        self.net.load_state(params)
        self.optimizer.load_state(buffers, self.net.device, self.net.dtype)
        self.epoch, self.batch = train_state["epoch"], train_state["batch"]
        self.step, self.history = train_state["step"], list(train_state["history"])
        self.total_seconds = train_state["total_seconds"]
        self.tracker = Tracker(**train_state["tracker"])
        c = self.config
        if self.batch:  # mid-epoch, or after its last batch before its evaluation: the η of
            # the last step run, which that epoch's record reports (warmed up, annealed)
            steps = eta_steps(c.warmup, c.epochs, self._n_batches())
            self.optimizer.eta = step_eta(self.tracker.eta, self.step - 1, *steps, c.anneal)
        else:
            self.optimizer.eta = self.tracker.eta
        self._on_disk = (self._position(), Path(path)) if path is not None else None

    def _position(self) -> tuple[int, int, int]:
        return self.epoch, self.batch, self.step

    def save_checkpoint(self, directory=None) -> Path | None:
        """Write the state now, unless it is the one last written or restored (that file)."""
        if self._on_disk and self._on_disk[0] == self._position() and self._on_disk[1].is_file():
            return self._on_disk[1]
        directory = directory or self.checkpoint_dir
        if directory is None:
            return None
        with self._stop.hold() if self._stop else nullcontext():
            path = save_checkpoint(
                directory, self.net, self.optimizer, self.state(), self.keep_checkpoints
            )
        self._on_disk = (self._position(), path)
        return path

    # --- the loop ----------------------------------------------------------------------
    def run(self) -> TrainResult:
        c = self.config
        if self.history:  # a resumed run: the file as at the checkpoint, no later epochs
            self._write_metrics()
        # Overflow and NaN are found by the guard at each epoch's end, not as NumPy warnings.
        with (
            StopRequest() as self._stop,
            np.errstate(over="ignore", invalid="ignore", divide="ignore"),
        ):
            self._warm_up()  # an interrupt here stops before the first batch, saving the start
            while self.epoch < c.epochs and not self.tracker.stop_reason:
                good = self._snapshot()
                seconds = self._train_epoch(self._stop)
                self._check_finite(good)  # first: an interrupt's checkpoint must be resumable
                if self._stop.requested:
                    self._interrupted(self._stop.requested)
                self.epoch += 1
                self.batch = 0
                self.total_seconds += seconds
                record = self._evaluate(seconds)
                self.history.append(record)
                self.tracker.update(
                    self.epoch, record["validation_accuracy"], record["test_accuracy"]
                )
                self.optimizer.eta = self.tracker.eta
                self._write_metrics()
                self.log(epoch_line(record, self.config.epochs))
                self.save_checkpoint()
            with self._stop.hold():  # the run is done: a Ctrl-C now must not cut this short
                if c.ema:  # what was evaluated is what the run leaves (and the caller saves)
                    self.optimizer.keep_averages(self.net)
                summary = self._summary()
                self._write_metrics(summary)
        if self.tracker.stop_reason:
            self.log(f"stopped early: {self.tracker.stop_reason}")
        return TrainResult(self.history, summary, self._stop.requested)

    def _warm_up(self) -> None:
        """One untimed step (gather, backprop, update, then the weights put back), so JIT
        and kernel compilation stay out of the epoch times."""
        m, net = self.config.mini_batch_size, self.net
        # take_snapshot, not self._snapshot: tests replace the latter to act at the loop's
        # first batch, which the warm-up is not
        good = take_snapshot(net, self.optimizer, self.batch, self.step)
        perm = net.device.send(np.arange(m))
        self.train_step.warm_up(self.train_x[perm], self.train_onehot[perm])
        self._restore(good)
        net.device.synchronize()

    def _train_epoch(self, stop: StopRequest) -> float:
        c, net = self.config, self.net
        m = c.mini_batch_size
        n_batches = self._n_batches()
        net.device.synchronize()
        start = time.perf_counter()  # the epoch's shuffle and distortions count as training
        x, y = self.train_x, self.train_onehot
        if c.order == "shuffled":
            perm = net.device.send(epoch_permutation(c.seed, self.epoch, len(x)))
            x, y = x[perm], y[perm]
        if self.distort:
            x = distort_epoch(
                x,
                c.seed,
                self.epoch,
                net.input_shape,
                c.distort_strength,
                c.distort_scale,
                c.elastic_alpha,
            )
        bar = ProgressBar(n_batches, f"epoch {self.epoch + 1}/{c.epochs}", enabled=self.progress)
        bar.update(self.batch)
        steps = eta_steps(c.warmup, c.epochs, n_batches)  # (W, T) of step_eta
        while self.batch < n_batches and not stop.requested:
            self.optimizer.eta = step_eta(self.tracker.eta, self.step, *steps, c.anneal)
            j = self.batch * m
            if c.nan_policy == "stop":
                self.train_step(x[j : j + m], y[j : j + m], self.step)
            else:
                net.backprop(x[j : j + m], y[j : j + m], step=self.step, seed=c.seed)
                if grads_finite(net):
                    self.optimizer.step(net, m)
                else:
                    at = f"epoch {self.epoch + 1}, batch {self.batch}"
                    self.log(f"{at}: non-finite gradient, batch skipped")
            self.batch += 1
            self.step += 1
            bar.update()
        net.device.synchronize()
        bar.close()
        return time.perf_counter() - start

    def _n_batches(self) -> int:
        """Whole mini-batches an epoch (the last incomplete one dropped, as network3)."""
        return len(self.train_x) // self.config.mini_batch_size

    def _snapshot(self) -> Snapshot:
        return take_snapshot(self.net, self.optimizer, self.batch, self.step)

    def _restore(self, good: Snapshot) -> None:
        self.batch, self.step = restore(self.net, self.optimizer, good)

    def _check_finite(self, good: Snapshot) -> None:
        """Back to ``good`` and a NumericalError when a weight has become inf or NaN."""
        bad = non_finite_layers(self.net)
        if not bad:
            return
        self._restore(good)
        where = self.save_checkpoint()
        if self.batch:
            at = f"epoch {self.epoch + 1}, batch {self.batch}"
        else:
            at = f"end of epoch {self.epoch}" if self.epoch else "the initial weights"
        saved = f"; the last good state ({at}) is in {where}" if where else ""
        layer = self.net.layers[bad[0]]
        raise NumericalError(
            f"epoch {self.epoch + 1}: non-finite weights in layer {bad[0]} ({layer.kind}): "
            f"the gradients exploded, most likely because the learning rate η = "
            f"{self.optimizer.eta:g} is too large for this network; try a smaller --eta{saved}"
        )

    def _interrupted(self, signame: str) -> None:
        at = f"stopped at epoch {self.epoch + 1}, batch {self.batch}"
        if not self.checkpoint_on_stop:  # a study that cannot be resumed writes no file
            last = self._on_disk[1] if self._on_disk else None  # one of its epochs' ends
            told = f"; the last checkpoint written is {last}" if last else ""
            raise TrainingInterrupted(f"{signame} received: {at}{told}", last)
        where = self.save_checkpoint()
        where = where or self.save_checkpoint(unused_checkpoint_dir("gpunn-checkpoints"))
        raise TrainingInterrupted(
            f"{signame} received: {at}; "
            f"checkpoint saved in {where} (continue with: gpunn train --resume {where.parent})",
            where,
        )

    # --- evaluation and reporting ------------------------------------------------------
    def _evaluate(self, seconds: float) -> dict:
        """The epoch's record; with ``ema``, of the averaged weights, and with the trained
        weights' validation and test accuracy beside them as raw_…_accuracy."""
        c, opt = self.config, self.optimizer
        splits = {"train": (self.train_x, self.train_y), **self.eval_sets}
        if not c.ema:
            return epoch_record(self.net, c, splits, self.epoch, opt.eta, seconds)
        raw = epoch_record(self.net, c.evaluation_only(), splits, self.epoch, opt.eta, seconds)
        with opt.averaged(self.net):
            record = epoch_record(self.net, c, splits, self.epoch, opt.eta, seconds)
        for key in RAW_KEYS:
            record[f"raw_{key}"] = raw[key]
        return record

    def _summary(self) -> dict:
        t = self.tracker
        last_test = self.history[-1]["test_accuracy"] if self.history else None
        return {
            "final": True,
            "epochs": self.epoch,
            "best_validation_accuracy": t.best_validation_accuracy,
            "best_epoch": t.best_epoch,
            "test_accuracy_at_best_validation": t.test_accuracy_at_best_validation
            if t.best_epoch is not None
            else last_test,
            "total_seconds": self.total_seconds,
            "stop_reason": t.stop_reason,
            "device": self.net.device.name,
            "step_mode": self.train_step.mode,  # 'graph' (CUDA graphs) or 'eager'
            **self.run_info,
        }

    def _write_metrics(self, summary: dict | None = None) -> None:
        """Write the metrics file anew: the epochs so far, then ``summary`` at the end."""
        if self.metrics_path:
            write_metrics(self.metrics_path, self.history + ([summary] if summary else []))
