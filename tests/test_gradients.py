"""gpunn.gradients: chapter 5's speed of learning against finite differences, the study's
training as the book's, and its interrupts (no checkpoint, a late one not swallowed)."""

import json

import numpy as np
import pytest

from gpunn.config import TrainConfig
from gpunn.gradients import BOOK_TRAINING, layer_speeds, track_speeds
from gpunn.interrupts import TrainingInterrupted
from gpunn.layers import FullyConnected
from gpunn.network import Network
from gpunn.train import Trainer, TrainResult
from tests.faults import interrupt_at_step
from tests.synthetic import blobs


def test_a_layer_speed_is_the_norm_of_the_mean_cost_s_bias_gradient(rng):
    """‖∂C/∂b^l‖ for C the cost averaged over the images, by central differences (float64)."""
    layers = [
        FullyConnected(5, "sigmoid"),
        FullyConnected(4, "sigmoid"),
        FullyConnected(3, "sigmoid"),
    ]
    net = Network(layers, "cross-entropy", input_shape=(6,), device="cpu", dtype="float64")
    x, labels = rng.random((7, 6)), rng.integers(0, 3, 7)

    def mean_cost() -> float:
        return float(net.evaluate(x, labels, cost=True)[1]) / len(x)

    eps, expected = 1e-6, []
    for layer in net.layers[:-1]:
        grad = np.empty(layer.b.shape)
        for j in range(layer.b.size):
            layer.b[j] += eps
            up = mean_cost()
            layer.b[j] -= 2 * eps
            grad[j] = (up - mean_cost()) / (2 * eps)
            layer.b[j] += eps
        expected.append(np.linalg.norm(grad))
    np.testing.assert_allclose(layer_speeds(net, x, labels), expected, rtol=1e-6)


def test_the_study_trains_as_the_book_one_full_batch_step_an_epoch():
    assert BOOK_TRAINING == {"epochs": 500, "mini_batch_size": 1000, "eta": 0.1, "lmbda": 5.0}
    data = blobs(n_train=100, n_validation=0, n_test=0)
    run = track_speeds([784, 8, 8, 10], data, epochs=3, mini_batch_size=100, seed=1)
    assert len(run.speeds) == 4 and all(len(s) == 2 for s in run.speeds)
    assert run.speeds[1] != run.speeds[0]  # one step changed the weights
    assert run.to_dict()["ratio_last_to_first_at_init"] == run.speeds[0][1] / run.speeds[0][0]
    assert run.label == "[784, 8, 8, 10] sigmoid, N(0, 1/n_in)"  # the plot's panel title


def test_every_init_has_words_for_plots():
    from gpunn.init import INIT_WORDS, WEIGHT_STD

    assert set(INIT_WORDS) == set(WEIGHT_STD)


def test_a_study_s_interrupt_leaves_no_checkpoint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    net = Network([FullyConnected(10, "sigmoid")], "cross-entropy", device="cpu")
    config = TrainConfig(epochs=2, mini_batch_size=50, eta=0.1)
    trainer = Trainer(net, blobs(), config, progress=False, checkpoint_on_stop=False)
    interrupt_at_step(trainer, 3)
    with pytest.raises(TrainingInterrupted, match="SIGINT received: stopped at epoch 1, batch 3$"):
        trainer.run()
    assert list(tmp_path.iterdir()) == []


def test_with_a_checkpoint_folder_the_interrupt_names_the_last_checkpoint(tmp_path):
    net = Network([FullyConnected(10, "sigmoid")], "cross-entropy", device="cpu")
    config = TrainConfig(epochs=2, mini_batch_size=50, eta=0.1)
    trainer = Trainer(
        net, blobs(), config, progress=False, checkpoint_dir=tmp_path, checkpoint_on_stop=False
    )
    interrupt_at_step(trainer, 15)  # epoch 2, batch 3: a checkpoint of epoch 1 was written
    with pytest.raises(TrainingInterrupted, match="the last checkpoint written is ") as info:
        trainer.run()
    assert info.value.checkpoint == sorted(tmp_path.glob("ckpt-*.npz"))[-1]


def test_the_command_s_mini_batch_is_the_training_size_unless_given(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from gpunn.cli import main
    from tests.faults import write_pkl_dataset

    data = write_pkl_dataset(tmp_path / "data", n_train=300, n_test=20)
    argv = ["gradients", "--train-size", "50", "--epochs", "1", "--device", "cpu"]
    assert main([*argv, "--data-dir", str(data), "--out", str(tmp_path / "g")]) == 0
    record = json.loads((tmp_path / "g" / "gradients.json").read_text())
    assert record["settings"]["mini_batch_size"] == 50 and record["settings"]["lmbda"] == 5.0
    assert (tmp_path / "g" / "gradients.png").stat().st_size > 1000


def test_a_signal_in_an_epoch_s_evaluation_stops_the_study(monkeypatch):
    """Trainer.run reports a signal after its last batch as late_stop; the study ends there."""
    monkeypatch.setattr(Trainer, "run", lambda self: TrainResult(late_stop="SIGTERM"))
    data = blobs(n_train=100, n_validation=0, n_test=0)
    with pytest.raises(TrainingInterrupted, match="SIGTERM received: stopped after epoch 1"):
        track_speeds([784, 8, 10], data, epochs=3, mini_batch_size=100)


def tiny_study(tmp_path):
    from tests.faults import write_pkl_dataset

    data = write_pkl_dataset(tmp_path / "data", n_train=300, n_test=20)
    argv = ["gradients", "--train-size", "50", "--epochs", "1", "--device", "cpu"]
    return [*argv, "--data-dir", str(data), "--out", str(tmp_path / "g")]


def test_a_signal_while_the_study_writes_waits_for_both_files(tmp_path, monkeypatch, capsys):
    """Taken by another thread of the process (as OpenBLAS's may): handled, not masked."""
    pytest.importorskip("matplotlib")
    import signal
    import threading

    from gpunn import plots
    from gpunn.cli import main

    draw, bystander = plots.plot_speeds, threading.Thread(target=threading.Event().wait, args=(5,))
    bystander.start()

    def signalled_then_drawn(runs, path):
        signal.pthread_kill(bystander.ident, signal.SIGINT)
        flips = [not i for i in range(1000)]  # bytecodes for the handler to run in
        return draw(runs, path) if flips else None

    monkeypatch.setattr(plots, "plot_speeds", signalled_then_drawn)
    assert main(tiny_study(tmp_path)) == 130
    assert {p.name for p in (tmp_path / "g").iterdir()} == {"gradients.json", "gradients.png"}
    assert capsys.readouterr().err.strip().endswith("gpunn: interrupted")


def test_a_closed_stdout_does_not_end_the_study(tmp_path):
    pytest.importorskip("matplotlib")
    import subprocess
    import sys

    from tests.faults import env

    argv = [sys.executable, "-m", "gpunn", *tiny_study(tmp_path)]
    with open(tmp_path / "stderr", "w") as err:
        proc = subprocess.Popen(argv, env=env(tmp_path), stdout=subprocess.PIPE, stderr=err)
        proc.stdout.close()  # as `… | head -0`: every line printed meets a closed pipe
        assert proc.wait(timeout=120) == 0, (tmp_path / "stderr").read_text()
    assert {p.name for p in (tmp_path / "g").iterdir()} == {"gradients.json", "gradients.png"}
