"""The trainer: learning, metrics, checkpoints and exact resume, the NaN guard, interrupts."""

import json
import os
import signal

import numpy as np
import pytest

from gpunn.checkpoint import checkpoint_paths, load_latest, read_checkpoint
from gpunn.config import TrainConfig
from gpunn.data.expand import distort_epoch
from gpunn.errors import ConfigError, ModelFileError, NumericalError
from gpunn.interrupts import TrainingInterrupted
from gpunn.layers import FullyConnected, Softmax
from gpunn.monitor import epoch_line
from gpunn.network import Network
from gpunn.serialize import load_model
from gpunn.tracker import step_eta
from gpunn.train import Trainer
from tests.faults import interrupt_at_step
from tests.synthetic import blobs


def make_net(seed=0, dropout=0.0):
    return Network(
        [FullyConnected(20, "relu", p_dropout=dropout), Softmax(10, p_dropout=dropout)],
        "log-likelihood",
        device="cpu",
        seed=seed,
    )


def quiet(msg):
    pass


def test_learns_and_writes_metrics(tmp_path):
    metrics = tmp_path / "m.jsonl"
    cfg = TrainConfig(
        epochs=3, eta=0.05, monitor_training_cost=True, monitor_training_accuracy=True
    )
    result = Trainer(make_net(), blobs(), cfg, metrics_path=metrics, log=quiet).run()
    lines = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [r["epoch"] for r in lines[:-1]] == [1, 2, 3]
    for key in (
        "eta",
        "seconds",
        "images_per_second",
        "train_cost",
        "train_accuracy",
        "validation_accuracy",
        "test_accuracy",
    ):
        assert key in lines[0]
    final = lines[-1]
    assert final["final"] is True and final["device"] == "cpu"
    best = max(r["validation_accuracy"] for r in lines[:-1])
    assert final["best_validation_accuracy"] == best
    assert (
        final["test_accuracy_at_best_validation"]
        == result.summary["test_accuracy_at_best_validation"]
    )
    assert best > 0.9


def run_to_end(tmp_path, epochs=4, warmup=0.0, anneal="none", ema=0.0, **kwargs):
    cfg = TrainConfig(
        epochs=epochs,
        eta=0.03,
        momentum=0.5,
        lmbda=0.5,
        seed=5,
        warmup=warmup,
        anneal=anneal,
        ema=ema,
    )
    trainer = Trainer(make_net(dropout=0.2), blobs(), cfg, log=quiet, **kwargs)
    trainer.run()
    return trainer


def test_resume_from_every_epoch_gives_identical_weights(tmp_path):
    reference = run_to_end(tmp_path, checkpoint_dir=tmp_path / "ref", keep_checkpoints=10)
    paths = checkpoint_paths(tmp_path / "ref")
    assert len(paths) == 4
    for path in paths[:-1]:
        header, params, velocities = read_checkpoint(path)
        cfg = TrainConfig.from_dict(header["train"]["config"])
        trainer = Trainer(make_net(seed=99, dropout=0.2), blobs(), cfg, log=quiet)
        trainer.restore(header["train"], params, velocities)
        trainer.run()
        for k, v in reference.net.state().items():
            np.testing.assert_array_equal(trainer.net.state()[k], v)
        assert (
            trainer.history[-1]["validation_accuracy"]
            == reference.history[-1]["validation_accuracy"]
        )


@pytest.mark.parametrize(
    ("expand", "warmup", "anneal", "ema"),
    [
        (None, 0.0, "none", 0.0),
        ("distort", 0.0, "none", 0.0),
        (None, 2.0, "none", 0.0),
        (None, 1.0, "cosine", 0.0),
        (None, 0.0, "none", 0.9),
    ],
)
def test_interrupt_mid_epoch_then_resume_is_identical(tmp_path, expand, warmup, anneal, ema):
    """… the averages too, with ema (the runs end holding them)."""
    reference = run_to_end(tmp_path, expand=expand, warmup=warmup, anneal=anneal, ema=ema)
    cfg = TrainConfig(
        epochs=4, eta=0.03, momentum=0.5, lmbda=0.5, seed=5, warmup=warmup, anneal=anneal, ema=ema
    )
    trainer = Trainer(
        make_net(dropout=0.2), blobs(), cfg, log=quiet, checkpoint_dir=tmp_path / "c", expand=expand
    )
    real_step, calls = trainer.optimizer.step, []

    def step_then_signal(net, m):
        real_step(net, m)
        calls.append(1)
        if len(calls) == 91:  # the warm-up step, then epoch 2, batch 30 of 60
            os.kill(os.getpid(), signal.SIGINT)

    trainer.optimizer.step = step_then_signal
    with pytest.raises(TrainingInterrupted) as info:
        trainer.run()
    assert info.value.checkpoint.name == "ckpt-0001-000030.npz"
    path, header, params, velocities = load_latest(tmp_path / "c")
    config = TrainConfig.from_dict(header["train"]["config"])
    resumed = Trainer(make_net(dropout=0.2), blobs(), config, log=quiet, expand=expand)
    resumed.restore(header["train"], params, velocities)
    resumed.run()
    for k, v in reference.net.state().items():
        np.testing.assert_array_equal(resumed.net.state()[k], v)


def test_a_resume_after_an_epoch_s_last_batch_reports_the_η_it_ran_with(tmp_path):
    """Stopped after epoch 1's last batch, before its evaluation: the resumed run records
    epoch 1 with the η of that batch (warmed up and annealed), as the straight run does."""
    reference = run_to_end(tmp_path, warmup=1.0, anneal="cosine")
    cfg = TrainConfig(
        epochs=4, eta=0.03, momentum=0.5, lmbda=0.5, seed=5, warmup=1.0, anneal="cosine"
    )
    trainer = Trainer(make_net(dropout=0.2), blobs(), cfg, log=quiet, checkpoint_dir=tmp_path / "c")
    interrupt_at_step(trainer, 60)  # epoch 1's last batch of 60
    with pytest.raises(TrainingInterrupted) as info:
        trainer.run()
    assert info.value.checkpoint.name == "ckpt-0000-000060.npz"
    path, header, params, velocities = load_latest(tmp_path / "c")
    resumed = Trainer(make_net(dropout=0.2), blobs(), cfg, log=quiet)
    resumed.restore(header["train"], params, velocities)
    resumed.run()
    assert [r["eta"] for r in resumed.history] == [r["eta"] for r in reference.history]
    assert reference.history[0]["eta"] != cfg.eta  # the warm-up and annealing at work


def test_an_averaged_run_trains_as_a_plain_one_and_reports_and_keeps_the_average(tmp_path):
    """Same seed, with and without ema: the same trained weights every epoch (the raw_
    accuracies), the average evaluated, checkpointed and left in the network at the end."""
    plain = run_to_end(tmp_path, checkpoint_dir=tmp_path / "plain")
    metrics = tmp_path / "ema.jsonl"
    averaged = run_to_end(tmp_path, ema=0.9, checkpoint_dir=tmp_path / "ema", metrics_path=metrics)
    for p, a in zip(plain.history, averaged.history, strict=True):
        assert a["raw_test_accuracy"] == p["test_accuracy"]
        assert a["raw_validation_accuracy"] == p["validation_accuracy"]
    assert [a["test_accuracy"] for a in averaged.history] != [
        p["test_accuracy"] for p in plain.history
    ]
    _, p_params, _ = read_checkpoint(checkpoint_paths(tmp_path / "plain")[-1])
    _, a_params, buffers = read_checkpoint(checkpoint_paths(tmp_path / "ema")[-1])
    for k, v in p_params.items():
        np.testing.assert_array_equal(a_params[k], v)  # checkpoints hold the trained weights
        np.testing.assert_array_equal(averaged.net.state()[k], buffers[f"average/{k}"])
    x, y = blobs().test.x, blobs().test.y
    correct, _ = averaged.net.evaluate(x, y)
    assert int(correct) / len(x) == averaged.history[-1]["test_accuracy"]
    last = checkpoint_paths(tmp_path / "ema")[-1]  # evaluated as the run reported it, or raw
    for trained, expect in ((False, averaged.net.state()), (True, a_params)):
        for k, v in load_model(last, trained_weights=trained).state().items():
            np.testing.assert_array_equal(v, expect[k])
    records = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert "trained weights: validation" in epoch_line(records[0], 4)
    assert records[-1]["test_accuracy_at_best_validation"] in [
        r["test_accuracy"] for r in records[:-1]
    ]


def run_recording_etas(cfg):
    """(TrainResult, η of each step) of a run on blobs (60 batches an epoch)."""
    trainer = Trainer(make_net(), blobs(), cfg, log=quiet)
    real_step, etas = trainer.optimizer.step, []

    def recording_step(net, m):
        etas.append(trainer.optimizer.eta)
        real_step(net, m)

    trainer.optimizer.step = recording_step
    result = trainer.run()
    return result, etas[1:]  # without the untimed warm-up step before the first epoch


def test_warmup_raises_eta_linearly_over_its_steps_then_holds_it():
    result, etas = run_recording_etas(TrainConfig(epochs=3, eta=0.06, warmup=1.5))  # W = 90
    assert len(etas) == 180
    np.testing.assert_allclose(etas[:90], 0.06 * np.arange(1, 91) / 90)
    assert etas[90:] == [0.06] * 90
    assert [r["eta"] for r in result.history] == pytest.approx([0.04, 0.06, 0.06])


def test_cosine_annealing_lowers_eta_every_step_after_the_warmup():
    cfg = TrainConfig(epochs=3, eta=0.06, warmup=0.5, anneal="cosine")  # W = 30, T = 180
    etas = np.array(run_recording_etas(cfg)[1])
    assert len(etas) == 180
    np.testing.assert_allclose(etas[:30], 0.06 * np.arange(1, 31) / 30)
    np.testing.assert_allclose(etas[30:], 0.03 * (1 + np.cos(np.pi * np.arange(150) / 150)))
    assert etas[30] == 0.06 and np.all(np.diff(etas[30:]) < 0) and 0 < etas[-1] < 1e-4


@pytest.mark.parametrize(
    ("t", "warmup_steps", "anneal", "expected"),
    [
        (0, 4, "cosine", 0.25),  # warm-up: η (t + 1)/W
        (3, 4, "none", 1.0),
        (4, 4, "cosine", 1.0),  # annealing starts at η
        (7, 4, "cosine", 0.5),  # half-way through the 6 steps after the warm-up
        (9, 4, "none", 1.0),
        (5, 0, "cosine", 0.5),
        (0, 10, "cosine", 0.1),  # a warm-up as long as the run: no annealing
    ],
)
def test_step_eta(t, warmup_steps, anneal, expected):
    assert step_eta(1.0, t, warmup_steps, 10, anneal) == pytest.approx(expected)


def test_distort_redraws_the_images_each_epoch_and_resumes_exactly(tmp_path):
    x = blobs().train.x[:50]
    first = distort_epoch(x, 5, 0, (784,))
    assert first.shape == x.shape and not np.array_equal(first, x)
    np.testing.assert_array_equal(first, distort_epoch(x, 5, 0, (784,)))
    assert not np.array_equal(first, distort_epoch(x, 5, 1, (784,)))

    reference = run_to_end(tmp_path, epochs=2, expand="distort", checkpoint_dir=tmp_path / "d")
    header, params, velocities = read_checkpoint(checkpoint_paths(tmp_path / "d")[0])
    cfg = TrainConfig.from_dict(header["train"]["config"])
    resumed = Trainer(make_net(seed=99, dropout=0.2), blobs(), cfg, log=quiet, expand="distort")
    resumed.restore(header["train"], params, velocities)
    resumed.run()
    for k, v in reference.net.state().items():
        np.testing.assert_array_equal(resumed.net.state()[k], v)
    plain = run_to_end(tmp_path, epochs=2)
    assert not np.array_equal(plain.net.state()["layer0/w"], reference.net.state()["layer0/w"])


@pytest.mark.parametrize("order", ["shuffled", "fixed"])
def test_order_fixed_takes_the_training_set_in_its_own_order_every_epoch(order):
    data = blobs()
    cfg = TrainConfig(epochs=2, eta=0.03, mini_batch_size=10, seed=5, order=order)
    trainer = Trainer(make_net(), data, cfg, log=quiet)
    batches = []
    real_backprop = trainer.net.backprop

    def spy(x, *args, **kwargs):
        batches.append(np.array(x))
        return real_backprop(x, *args, **kwargs)

    trainer.net.backprop = spy
    trainer.run()
    assert len(batches) == 1 + 2 * 60  # the untimed warm-up step, then two epochs
    epoch = np.concatenate(batches[1:61]), np.concatenate(batches[61:])
    if order == "fixed":
        np.testing.assert_array_equal(epoch[0], data.train.x)
        np.testing.assert_array_equal(epoch[1], data.train.x)
    else:  # each epoch a permutation of the training set, and not the same one
        for e in epoch:
            assert sorted(map(bytes, e)) == sorted(map(bytes, data.train.x))
        assert not np.array_equal(epoch[0], epoch[1])


def test_a_signal_after_the_last_batch_finishes_the_run_and_is_reported():
    trainer = Trainer(make_net(), blobs(), TrainConfig(epochs=2, eta=0.05), log=quiet)
    evaluate = trainer._evaluate

    def evaluate_then_signal(seconds):
        if trainer.epoch == 2:  # in the last epoch's evaluation
            os.kill(os.getpid(), signal.SIGTERM)
        return evaluate(seconds)

    trainer._evaluate = evaluate_then_signal
    result = trainer.run()
    assert result.late_stop == "SIGTERM" and len(result.history) == 2
    assert result.summary["final"] is True


def test_a_corrupt_newest_checkpoint_falls_back_to_the_previous(tmp_path):
    run_to_end(tmp_path, epochs=2, checkpoint_dir=tmp_path / "c")
    newest = checkpoint_paths(tmp_path / "c")[-1]
    newest.write_bytes(newest.read_bytes()[:100])
    path, header, _, _ = load_latest(tmp_path / "c")
    assert path.name == "ckpt-0001-000000.npz" and header["train"]["epoch"] == 1
    for p in checkpoint_paths(tmp_path / "c"):
        p.write_bytes(b"garbage")
    with pytest.raises(ModelFileError, match="no readable checkpoint"):
        load_latest(tmp_path / "c")


def test_exploding_learning_rate_stops_with_a_clear_error(tmp_path):
    cfg = TrainConfig(epochs=3, eta=1e30)
    trainer = Trainer(make_net(), blobs(), cfg, log=quiet, checkpoint_dir=tmp_path / "c")
    with pytest.raises(
        NumericalError, match=r"epoch 1: non-finite weights in layer \d.*η = 1e\+30"
    ):
        trainer.run()
    assert all(np.isfinite(v).all() for v in trainer.net.state().values())  # rolled back


def test_skip_batch_policy_keeps_weights_finite(tmp_path):
    data = blobs()
    data.train.x[5] = np.nan  # one poisoned image
    cfg = TrainConfig(epochs=1, eta=0.5, nan_policy="skip-batch")
    messages = []
    trainer = Trainer(make_net(), data, cfg, log=messages.append)
    trainer.run()
    assert any("batch skipped" in m for m in messages)
    assert all(np.isfinite(v).all() for v in trainer.net.state().values())


def test_schedule_halves_eta_and_stops():
    data = blobs(n_train=100, n_validation=50, n_test=50)
    cfg = TrainConfig(epochs=100, eta=1e-9, schedule=1, eta_floor=1 / 4)
    trainer = Trainer(make_net(), data, cfg, log=quiet)
    result = trainer.run()
    assert result.summary["stop_reason"] == "η fell to η₀/4"
    assert [r["eta"] for r in result.history][-1] < 1e-9


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(epochs=0),
        dict(mini_batch_size=-1),
        dict(eta=-0.1),
        dict(momentum=1.5),
        dict(nan_policy="ignore"),
        dict(order="network3"),
        dict(mini_batch_size=10_000),
        dict(warmup=-1),
        dict(warmup=float("inf")),
        dict(warmup="1"),
        dict(anneal="linear"),
        dict(distort_strength=0),
        dict(distort_strength=True),
        dict(distort_strength=0.5),  # without expand="distort" it would do nothing
        dict(distort_scale=0.1),  # the same
        dict(elastic_alpha=0.0),  # the same
        dict(distort_scale=1.0),
        dict(distort_scale=-0.1),
        dict(elastic_alpha=-1.0),
        dict(early_stopping=True),  # a bool is no count of epochs
        dict(schedule=2.0),
        dict(seed=True),
        dict(epochs=np.float64(2)),
    ],
)
def test_bad_configuration_is_rejected_before_any_work(kwargs):
    with pytest.raises(ConfigError):
        Trainer(make_net(), blobs(), TrainConfig(**kwargs), log=quiet)


def test_without_validation_images_nothing_may_follow_validation_accuracy():
    data = blobs(n_validation=0)
    for kwargs, named in (
        (dict(schedule=2), "schedule=2 follows"),
        (dict(schedule=2, early_stopping=3), "schedule=2 and early_stopping=3 follow"),
    ):
        with pytest.raises(ConfigError, match=f"{named} validation accuracy, but there are no"):
            Trainer(make_net(), data, TrainConfig(**kwargs), log=quiet)
    result = Trainer(make_net(), data, TrainConfig(epochs=2), log=quiet).run()
    assert result.summary["best_validation_accuracy"] is None
    assert result.summary["test_accuracy_at_best_validation"] == result.history[-1]["test_accuracy"]


def test_numpy_scalar_settings_train_and_are_saved_as_plain_numbers(tmp_path):
    cfg = TrainConfig(epochs=np.int64(1), mini_batch_size=np.int32(10), eta=np.float32(0.5))
    cfg.seed, cfg.early_stopping = np.uint8(3), np.int64(2)
    trainer = Trainer(make_net(), blobs(), cfg, log=quiet, checkpoint_dir=tmp_path)
    trainer.run()
    (path,) = checkpoint_paths(tmp_path)
    saved = read_checkpoint(path)[0]["train"]["config"]
    assert saved["epochs"] == 1 and type(saved["mini_batch_size"]) is int
    assert type(saved["eta"]) is float and saved["seed"] == 3


@pytest.mark.parametrize("settings", [None, [1], {"eta_floor": "0.5"}, {"eta_floor": None}])
def test_train_config_from_odd_settings_is_a_config_error(settings):
    with pytest.raises(ConfigError):
        TrainConfig.from_dict(settings).check()


def test_a_warm_up_may_last_the_whole_run_and_splits_may_be_missing():
    TrainConfig(epochs=1, warmup=1).check()
    data = blobs(n_train=100, n_validation=20, n_test=20)
    data.validation = None
    keep = np.int64(2)  # numpy integers are integers
    Trainer(make_net(), data, TrainConfig(epochs=1, eta=0.1), log=quiet, keep_checkpoints=keep)
