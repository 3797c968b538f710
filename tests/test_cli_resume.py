"""``train --resume`` on the command line. It refuses, in one line and changing no file,
options that differ from the run's, one member of an ensemble, and checkpoints that are
foreign, broken or do not fit their network; a resumed run writes the run's own save and
metrics wherever it is started from; an ensemble's members checkpoint into a folder of
their own, and a stop between two members is resumed to the whole ensemble.
"""

import json

import numpy as np
import pytest

from gpunn.checkpoint import load_latest, read_checkpoint
from gpunn.cli import main
from gpunn.ensemble import Ensemble
from gpunn.train import Trainer
from tests.cli_fixtures import (
    TRAIN,
    fixture_data_dir,  # noqa: F401
    fixture_trained,  # noqa: F401
)
from tests.faults import MALFORMED, edited, fails, one_error_line, snapshot


def test_resume_refuses_options_that_differ_from_the_run(trained, data_dir, capsys):
    before = snapshot(trained)
    argv = ["train", "--resume", trained / "ckpt", "--data-dir", data_dir, "--device", "cpu"]
    for extra in (
        ["--epochs", "5"],
        ["--eta", "0.5"],
        ["--preset", "shallow"],
        ["--seed", "1"],
        ["--init", "large"],
        ["--warmup", "1"],
        ["--anneal", "cosine"],
        ["--order", "fixed"],
        ["--distort-strength", "0.5"],
        ["--validation-size", "0"],
        ["--elastic-alpha", "0"],
        ["--ema", "0.9"],
    ):
        line = fails([*argv, *extra], capsys)
        assert f"{extra[0]} {extra[1]}" in line and "(the run has" in line
    line = fails([*argv, "--batch-size", "20", "--dtype", "float64"], capsys)
    assert "--batch-size 20 (the run has 10), --dtype float64 (the run has float32)" in line
    line = fails([*argv, "--schedule", "3"], capsys)
    assert "--schedule 3 (the run has 0)" in line
    line = fails([*argv, "--deskew"], capsys)
    assert "--deskew (the run has it off)" in line
    # the same values as the run's are fine
    same = ["--epochs", "1", "--preset", "fc30", "--schedule", "0", "--init", "default"]
    assert main([str(a) for a in [*argv, *same]]) == 0
    assert snapshot(trained) == before


def accuracies(metrics: str) -> list:
    keys = ("epoch", "validation_accuracy", "test_accuracy", "test_accuracy_at_best_validation")
    return [[record.get(k) for k in keys] for record in map(json.loads, metrics.splitlines())]


def test_resume_writes_the_run_s_own_save_and_metrics(tmp_path, data_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = [*TRAIN, "--epochs", "2", "--data-dir", data_dir, "--checkpoint-dir", "c"]
    assert main([str(a) for a in [*argv, "--save", "m.npz", "--metrics", "m.jsonl"]]) == 0
    first = (tmp_path / "m.jsonl").read_text()
    for path in ("m.npz", "m.jsonl", "c/ckpt-0002-000000.npz"):  # as if stopped in epoch 2
        (tmp_path / path).unlink()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the paths are the run's, not relative to a new cwd
    assert main(["train", "--resume", str(tmp_path / "c"), "--data-dir", str(data_dir)]) == 0
    assert (tmp_path / "m.npz").is_file()
    assert accuracies((tmp_path / "m.jsonl").read_text()) == accuracies(first)
    assert not list(elsewhere.iterdir())


def test_outputs_given_to_a_resume_are_the_run_s_from_then_on(tmp_path, data_dir, monkeypatch):
    """Resumed with a new --save and --metrics: the checkpoints written after name them,
    so a later plain --resume writes there, not over the files of before."""
    monkeypatch.chdir(tmp_path)
    argv = [*TRAIN, "--epochs", "3", "--data-dir", data_dir, "--checkpoint-dir", "c"]
    assert main([str(a) for a in [*argv, "--save", "x.npz", "--metrics", "x.jsonl"]]) == 0
    for name in ("ckpt-0002-000000.npz", "ckpt-0003-000000.npz"):
        (tmp_path / "c" / name).unlink()
    resume = ["train", "--resume", "c", "--data-dir", str(data_dir)]
    assert main([*resume, "--save", "y.npz", "--metrics", "y.jsonl"]) == 0
    header = load_latest(tmp_path / "c")[1]
    outputs = header["train"]["run_info"]["outputs"]
    assert outputs == {"save": str(tmp_path / "y.npz"), "metrics": str(tmp_path / "y.jsonl")}
    before = (tmp_path / "x.npz").read_bytes()
    (tmp_path / "c" / "ckpt-0003-000000.npz").unlink()
    assert main(resume) == 0
    assert (tmp_path / "x.npz").read_bytes() == before


def test_resume_refuses_one_member_of_an_ensemble(tmp_path, data_dir, capsys):
    argv = [*TRAIN, "--ensemble", "2", "--data-dir", data_dir, "--checkpoint-dir", tmp_path / "e"]
    assert main([str(a) for a in argv]) == 0
    line = fails(["train", "--resume", tmp_path / "e" / "member1", "--device", "cpu"], capsys)
    assert "holds member 1 of an ensemble of 2" in line and f"--resume {tmp_path / 'e'}" in line
    argv = ["train", "--resume", tmp_path / "e", "--checkpoint-dir", tmp_path / "f"]
    line = fails([*argv, "--device", "cpu"], capsys)
    assert "goes on checkpointing there; leave --checkpoint-dir out" in line


def test_a_second_ensemble_gets_its_own_checkpoint_folder(data_dir, cwd, capsys):
    argv = [*TRAIN, "--ensemble", "2", "--data-dir", data_dir]
    assert main([str(a) for a in argv]) == 0
    assert main([str(a) for a in [*argv, "--seed", "7"]]) == 0
    err = capsys.readouterr().err
    assert "into gpunn-checkpoints/" in err and "into gpunn-checkpoints-2/" in err
    header = read_checkpoint(sorted((cwd / "gpunn-checkpoints-2" / "member1").iterdir())[-1])[0]
    assert header["train"]["config"]["seed"] == 8


def test_a_stop_after_a_member_s_last_batch_stops_the_ensemble(data_dir, cwd, capsys, monkeypatch):
    run = Trainer.run

    def run_then_signal(self):  # as if SIGTERM came in member 0's last evaluation
        result = run(self)
        result.late_stop = result.late_stop or ("SIGTERM" if self.run_info["member"] == 0 else None)
        return result

    monkeypatch.setattr(Trainer, "run", run_then_signal)
    argv = [*TRAIN, "--ensemble", "2", "--data-dir", data_dir, "--save", "e.npz"]
    assert main([str(a) for a in argv]) == 130
    line = one_error_line(capsys.readouterr().err, "gpunn: stopped: ")
    assert "SIGTERM received: stopped after ensemble member 1/2" in line
    assert "--resume gpunn-checkpoints)" in line and not (cwd / "e.npz").exists()
    assert not (cwd / "gpunn-checkpoints" / "member1").exists()
    monkeypatch.setattr(Trainer, "run", run)
    assert main(["train", "--resume", "gpunn-checkpoints", "--data-dir", str(data_dir)]) == 0
    assert len(Ensemble.load(cwd / "e.npz").networks) == 2


def test_resume_from_a_checkpoint_that_does_not_fit_its_network(tmp_path, trained, capsys):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    good = sorted((trained / "ckpt").glob("ckpt-*.npz"))[-1]
    bad = folder / good.name
    bad.write_bytes(edited(good.read_bytes(), **{"param/layer0/w": np.zeros((30, 783))}))
    before = snapshot(folder)
    line = fails(["train", "--resume", folder, "--device", "cpu"], capsys)
    assert f"{bad}: not a run gpunn can continue" in line and "layer0/w" in line
    assert snapshot(folder) == before


@pytest.mark.parametrize("name", ["empty", "a model file", "truncated to 50%", "plain .npz"])
def test_resume_from_a_foreign_or_broken_checkpoint(name, tmp_path, trained, capsys):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    good = sorted((trained / "ckpt").glob("ckpt-*.npz"))[-1].read_bytes()
    data = (trained / "net.npz").read_bytes() if name == "a model file" else MALFORMED[name](good)
    (folder / "ckpt-0001-000000.npz").write_bytes(data)
    before = snapshot(folder)
    line = fails(["train", "--resume", folder, "--device", "cpu"], capsys)
    assert "no readable checkpoint" in line and "ckpt-0001-000000.npz" in line
    assert snapshot(folder) == before
