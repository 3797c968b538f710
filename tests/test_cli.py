"""The command line refuses bad input with one line and a non-zero exit, before any work.

Most cases call ``gpunn.cli.main`` in this process (an exception escaping it fails the
test, so "no traceback" holds there by construction); a few run ``python -m gpunn``
for real to show the same at the process level.
"""

import ast
import gzip
import json
import os
import re
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gpunn import backend
from gpunn.checkpoint import read_checkpoint
from gpunn.cli import main
from gpunn.commands import distortion_words
from gpunn.config import TrainConfig
from gpunn.ensemble import Ensemble
from gpunn.errors import ConfigError, DataError
from gpunn.layers import FullyConnected
from gpunn.network import Network
from gpunn.parser import build_parser
from gpunn.run_setup import build_run
from gpunn.serialize import load_model
from gpunn.train import Trainer
from tests.faults import (
    MALFORMED,
    TIMEOUT_S,
    command,
    edited,
    env,
    fails,
    gpunn,
    one_error_line,
    snapshot,
    start,
    write_pkl_dataset,
)

TRAIN = ["train", "--preset", "fc30", "--train-size", "500", "--epochs", "1", "--device", "cpu"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_pkl_dataset(tmp_path_factory.mktemp("data"), n_train=500, n_test=200)


@pytest.fixture
def no_data(monkeypatch):
    """Make loading a dataset fail the test: these errors must come before that work."""

    def refuse(*args, **kwargs):
        raise AssertionError("the dataset was loaded")

    monkeypatch.setattr("gpunn.run_setup.load_data", refuse)


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
    """A checkpoint folder and saved model of one short run."""
    folder = tmp_path_factory.mktemp("run")
    argv = [*TRAIN, "--data-dir", data_dir, "--checkpoint-dir", folder / "ckpt"]
    assert main([str(a) for a in [*argv, "--save", folder / "net.npz"]]) == 0
    return folder


# --- options ---------------------------------------------------------------------------
USAGE_ERRORS = [
    ("--eta", "abc"),
    ("--epochs", "0"),
    ("--epochs", "-3"),
    ("--epochs", "1.5"),
    ("--batch-size", "0"),
    ("--train-size", "0"),
    ("--validation-size", "-1"),
    ("--seed", "-1"),
    ("--keep-checkpoints", "0"),
    ("--schedule", "-1"),
    ("--early-stopping", "-2"),
    ("--warmup", "-1"),
    ("--warmup", "nan"),
    ("--warmup", "soon"),
    ("--anneal", "linear"),
    ("--order", "random"),
    ("--distort-strength", "0"),
    ("--distort-strength", "nan"),
    ("--distort-scale", "-0.1"),
    ("--elastic-alpha", "-1"),
    ("--ensemble", "0"),
    ("--device", "tpu"),
    ("--dtype", "float16"),
    ("--init", "xavier"),
    ("--expand", "rotations"),
    ("--nan-policy", "ignore"),
    ("--dataset", "cifar10"),
]


@pytest.mark.parametrize("option, value", USAGE_ERRORS)
def test_malformed_options_are_usage_errors(option, value, capsys, no_data, cwd):
    with pytest.raises(SystemExit) as info:
        main(["train", option, value])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.splitlines()[-1].startswith("gpunn train: error: argument " + option)
    assert list(cwd.iterdir()) == []


CONFIG_ERRORS = [
    (["--eta", "-0.5"], "eta must be positive"),
    (["--eta", "0"], "eta must be positive"),
    (["--eta", "nan"], "eta must be a finite number"),
    (["--eta", "inf"], "eta must be a finite number"),
    (["--lmbda", "-1"], "regularisation must be non-negative"),
    (["--l1", "-0.1"], "regularisation must be non-negative"),
    (["--momentum", "1"], r"momentum must be in \[0, 1\)"),
    (["--momentum", "-0.1"], r"momentum must be in \[0, 1\)"),
    (["--ema", "1"], r"the average's decay ema must be in \[0, 1\) \(0: none\)"),
    (["--ema", "nan"], "ema must be a finite number"),
    (["--preset", "lenet"], "unknown preset 'lenet'"),
    (["--save", "."], "is a folder"),
    (["--save", "TRAIN_FILE/net.npz"], "is not a folder"),
    (["--checkpoint-dir", "TRAIN_FILE"], "is a file, not a folder"),
    (["--metrics", "."], "is a folder"),
    (["--resume", "absent"], "absent: no such checkpoint directory"),
    (["--resume", "."], "holds no checkpoint"),
    (["--resume", "TRAIN_RUN", "--ensemble", "2"], "--ensemble cannot be combined with --resume"),
    (["--checkpoint-dir", "TRAIN_RUN"], "already holds checkpoints of another run"),
    (["--distort-strength", "0.5"], r"--distort-strength 0.5 needs --expand distort \(this run's"),
    (["--distort-scale", "0.1"], r"--distort-scale 0.1 needs --expand distort \(this run's"),
    (["--elastic-alpha", "0"], r"--elastic-alpha 0 needs --expand distort \(this run's"),
    (
        ["--expand", "distort", "--distort-scale", "1"],
        r"distort_scale must be a number in \[0, 1\)",
    ),
    (
        ["--expand", "distort", "--distort-strength", "1e308"],
        "distort_strength must be a positive number up to 10, got 1e",
    ),
    (
        ["--expand", "distort", "--elastic-alpha", "341"],
        "elastic_alpha must be a non-negative number up to 340, got 341",
    ),
    (["--resume", "TRAIN_FILE"], "is a file, not a checkpoint directory"),
    (["--warmup", "1.5"], r"warmup \(1.5 epochs\) must end by the run's end \(1 epochs\)"),
    (
        ["--validation-size", "0", "--early-stopping", "2"],
        "--validation-size 0 leaves no validation images, but --early-stopping 2 follows",
    ),
    (
        ["--validation-size", "0", "--preset", "fc100-ce-l2"],
        r"but --schedule 5 follows validation accuracy \(--schedule 0 turns a preset's",
    ),
]


@pytest.mark.parametrize("extra, message", CONFIG_ERRORS)
def test_bad_values_stop_before_any_work(extra, message, capsys, no_data, cwd, trained):
    (cwd / "TRAIN_FILE").write_text("a file, not a folder")
    (cwd / "TRAIN_RUN").symlink_to(trained / "ckpt")
    before = snapshot(cwd), snapshot(trained)  # (snapshot does not follow the link)
    extra = [e.replace("TRAIN_RUN", str(cwd / "TRAIN_RUN")) for e in extra]
    line = fails([*TRAIN, *extra], capsys)
    assert line.startswith("gpunn: error: ") and re.search(message, line)
    assert (snapshot(cwd), snapshot(trained)) == before


def test_a_bad_gpunn_cpu_threads_is_one_error_before_any_work(capsys, no_data, cwd, monkeypatch):
    monkeypatch.setenv("GPUNN_CPU_THREADS", "two")
    line = fails([*TRAIN, "--checkpoint-dir", "c"], capsys)
    assert "GPUNN_CPU_THREADS must be a positive integer, got 'two'" in line
    assert not (cwd / "c").exists()


@pytest.mark.skipif(backend.gpu_available(), reason="a GPU is usable here")
def test_asking_for_a_missing_gpu_is_one_error(capsys, no_data, cwd):
    line = fails([*TRAIN[:-2], "--device", "gpu"], capsys)
    assert "the GPU was asked for" in line


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--batch-size", "600"], r"mini-batch size \(600\) is larger than the training data"),
        (
            ["--train-size", "10000"],
            "a training size of 10000 is more than the 500 training images",
        ),
        (
            ["--validation-size", "9000", "--train-size", "1501"],
            "more than the 1500 training images left after the last 9000",
        ),
    ],
)
def test_sizes_that_do_not_fit_the_data(extra, message, capsys, data_dir, cwd):
    line = fails([*TRAIN, "--data-dir", data_dir, *extra, "--checkpoint-dir", "c"], capsys)
    assert re.search(message, line)
    assert not (cwd / "c").exists()


def test_distortions_with_scaling_and_without_elastic_fields(data_dir, tmp_path, capsys):
    argv = [*TRAIN, "--data-dir", data_dir, "--expand", "distort", "--distort-scale", "0.1"]
    argv += ["--elastic-alpha", "0", "--save", tmp_path / "net.npz"]
    assert main([str(a) for a in argv]) == 0
    err = capsys.readouterr().err
    assert "freshly distorted each epoch (sizes ×(1 ± 0.1), elastic α 0)" in err
    train = load_model(tmp_path / "net.npz").metadata["train"]
    assert (train["distort_scale"], train["elastic_alpha"]) == (0.1, 0.0)


def test_distortions_draws_digits_beside_their_distortions(data_dir, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    argv = ["distortions", "--data-dir", data_dir, "--digits", "3", "--draws", "2"]
    argv += ["--distort-scale", "0.1", "--out", tmp_path / "d.png"]
    assert main([str(a) for a in argv]) == 0
    assert capsys.readouterr().out == f"wrote {tmp_path / 'd.png'}\n"
    assert (tmp_path / "d.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for extra, message in (
        (["--distort-scale", "1"], r"distort_scale must be a number in \[0, 1\)"),
        (["--out", tmp_path], "is a folder"),
        (["--out", tmp_path / "d.pdf"], r"give a \.png file name"),
        (["--draws", "31"], "at most 100 digits and 30 draws"),
    ):
        before = snapshot(tmp_path)
        assert re.search(message, fails([*argv, *extra], capsys))
        assert snapshot(tmp_path) == before


def test_schedule_zero_turns_the_preset_schedule_off():
    def config(*extra):
        args = build_parser().parse_args(["train", "--preset", "fc100-ce-l2", *extra])
        return build_run(args)[1]

    assert config().schedule == 5
    assert config("--schedule", "0").schedule is None
    assert config("--schedule", "2").schedule == 2


# --- resume ----------------------------------------------------------------------------
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


# --- data files ------------------------------------------------------------------------
IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
IDX_TEST = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def idx(array, magic=None):
    array = np.asarray(array, dtype=np.uint8)
    magic = 0x800 | array.ndim if magic is None else magic
    return struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.tobytes()


def write_idx_dataset(folder, n=30, **broken):
    """Four small IDX .gz files; ``broken`` replaces a file's bytes (by short name)."""
    rng = np.random.default_rng(0)
    files = {
        "train-images": idx(rng.integers(0, 256, (n, 28, 28))),
        "train-labels": idx(rng.integers(0, 10, n)),
        "t10k-images": idx(rng.integers(0, 256, (10, 28, 28))),
        "t10k-labels": idx(rng.integers(0, 10, 10)),
    }
    files.update(broken)
    folder.mkdir()
    for short, data in files.items():
        name = next(n for n in IDX_NAMES + IDX_TEST if n.startswith(short))
        (folder / f"{name}.gz").write_bytes(gzip.compress(data))


BAD_DATA = {
    "wrong magic": (dict(**{"train-labels": idx(np.zeros(30), magic=0x803)}), "wrong magic"),
    "images for labels": (
        dict(**{"t10k-labels": idx(np.zeros((10, 28, 28)))}),
        "wrong magic number 0x00000803",
    ),
    "count mismatch": (dict(**{"train-labels": idx(np.zeros(29))}), "30 images but .* 29 labels"),
    "truncated": (dict(**{"train-images": idx(np.zeros((30, 28, 28)))[:-100]}), "truncated"),
    "label 10": (dict(**{"t10k-labels": idx(np.full(10, 10))}), "label 10 at index 0"),
    "wrong image size": (dict(**{"t10k-images": idx(np.zeros((10, 32, 32)))}), "32x32"),
    "not MNIST": ({}, "sha256 of the content"),
}


@pytest.mark.parametrize("name", BAD_DATA)
def test_broken_data_files_are_one_error_naming_the_file(name, tmp_path, capsys, cwd):
    broken, message = BAD_DATA[name]
    write_idx_dataset(tmp_path / "data", **broken)
    line = fails([*TRAIN, "--data-dir", tmp_path / "data", "--checkpoint-dir", "c"], capsys)
    assert re.search(message, line) and str(tmp_path / "data") in line
    assert not (cwd / "c").exists()


def test_a_corrupt_pickle_is_one_error(tmp_path, capsys, cwd):
    (tmp_path / "mnist.pkl.gz").write_bytes(gzip.compress(b"\x80\x04not a pickle at all"))
    line = fails([*TRAIN, "--data-dir", tmp_path], capsys)
    assert f"{tmp_path / 'mnist.pkl.gz'}: not a pickle of NumPy arrays" in line


# --- evaluate and predict --------------------------------------------------------------
def test_evaluate_reports_accuracy(trained, data_dir, capsys):
    argv = ["evaluate", trained / "net.npz", "--data-dir", data_dir, "--device", "cpu"]
    assert main([str(a) for a in argv]) == 0
    assert capsys.readouterr().out.startswith("test accuracy ")


def test_evaluate_with_test_time_shifts(trained, data_dir, tmp_path, capsys):
    argv = ["evaluate", trained / "net.npz", "--data-dir", data_dir, "--device", "cpu"]
    assert main([str(a) for a in [*argv, "--test-shifts"]]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("test accuracy ") and len(lines) == 2
    assert re.fullmatch(r"test accuracy with test-time shifts \d+\.\d\d% \(\d+/\d+\)", lines[1])
    nets = [Network([FullyConnected(10, n_in=784)], input_shape=(784,), seed=s) for s in (0, 1)]
    Ensemble(nets).save(tmp_path / "ensemble.npz")
    argv[1] = tmp_path / "ensemble.npz"
    assert main([str(a) for a in [*argv, "--test-shifts"]]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "test accuracy of 2 networks with test-time shifts"
    assert [line.split(":")[0] for line in lines[1:]] == ["member 0", "member 1", "vote", "average"]


def test_validation_size_zero_trains_on_all_and_reports_the_last_epoch(data_dir, tmp_path, capsys):
    # data_dir holds 500 training and 10,000 validation images: all 10,500 are trained on
    argv = ["train", "--preset", "fc30", "--epochs", "2", "--device", "cpu"]
    argv += ["--data-dir", data_dir, "--validation-size", "0", "--train-size", "10500"]
    argv += ["--save", tmp_path / "net.npz", "--metrics", tmp_path / "m.jsonl"]
    assert main([str(a) for a in argv]) == 0
    out = capsys.readouterr().out
    records = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert [r.get("validation_accuracy") for r in records[:-1]] == [None, None]
    last_test = records[-2]["test_accuracy"]
    assert records[-1]["test_accuracy_at_best_validation"] == last_test
    assert out.startswith(f"test accuracy {last_test:.2%} (last epoch; no validation accuracy)")
    evaluate = ["evaluate", tmp_path / "net.npz", "--data-dir", data_dir, "--device", "cpu"]
    line = fails([*evaluate, "--split", "validation"], capsys)
    assert "was trained on the validation images (--validation-size 0)" in line
    assert main([str(a) for a in evaluate]) == 0
    assert capsys.readouterr().out.startswith(f"test accuracy {last_test:.2%}")


def test_a_deskewing_network_is_trained_saved_and_evaluated_on_deskewed_digits(
    data_dir, tmp_path, capsys
):
    argv = [*TRAIN, "--data-dir", data_dir, "--deskew", "--save", tmp_path / "net.npz"]
    assert main([str(a) for a in argv]) == 0
    captured = capsys.readouterr()
    assert "500 training images; the digits deskewed first" in captured.err.splitlines()[0]
    reported = captured.out.split("(")[0]  # "test accuracy P% " at the best validation epoch
    assert load_model(tmp_path / "net.npz").input_transform == "deskew"
    evaluate = ["evaluate", tmp_path / "net.npz", "--data-dir", data_dir, "--device", "cpu"]
    assert main([str(a) for a in evaluate]) == 0
    assert capsys.readouterr().out.startswith(reported)


def test_evaluate_splits_the_data_as_the_network_was_trained(trained, data_dir, tmp_path, capsys):
    # data_dir: 500 training then 10,000 validation images; this net held out the last 5,000
    # and trained on the first 500 (--train-size) of the 5,500 others
    argv = [*TRAIN, "--data-dir", data_dir, "--validation-size", "5000"]
    assert main([str(a) for a in [*argv, "--save", tmp_path / "net.npz"]]) == 0
    capsys.readouterr()
    evaluate = ["evaluate", tmp_path / "net.npz", "--data-dir", data_dir, "--device", "cpu"]
    for split, n in (("validation", 5000), ("train", 500)):
        assert main([str(a) for a in [*evaluate, "--split", split]]) == 0
        assert re.fullmatch(rf"{split} accuracy \S+ \(\d+/{n}\)\n", capsys.readouterr().out)
    both = [*evaluate[:2], trained / "net.npz", *evaluate[2:]]  # and one that held out 10,000
    line = fails([*both, "--split", "validation"], capsys)
    assert "had different validation sizes" in line and "net.npz 5000" in line
    assert main([str(a) for a in both]) == 0  # the test images are the same for both
    capsys.readouterr()
    fewer = [*TRAIN[:4], "400", *TRAIN[5:], "--data-dir", data_dir, "--save", tmp_path / "b.npz"]
    assert main([str(a) for a in fewer]) == 0
    pair = ["evaluate", trained / "net.npz", tmp_path / "b.npz", *evaluate[2:]]
    assert main([str(a) for a in [*pair, "--split", "validation"]]) == 0  # the same last 10,000
    assert "of 2 networks" in capsys.readouterr().out
    line = fails([*pair, "--split", "train"], capsys)
    assert "had different training sizes" in line and "b.npz 400" in line


def test_evaluate_takes_a_checkpoint_too(trained, data_dir, capsys):
    last = sorted((trained / "ckpt").glob("ckpt-*.npz"))[-1]
    argv = ["evaluate", last, "--data-dir", data_dir, "--device", "cpu"]
    assert main([str(a) for a in argv]) == 0
    from_checkpoint = capsys.readouterr().out
    argv = ["evaluate", trained / "net.npz", "--data-dir", data_dir, "--device", "cpu"]
    assert main([str(a) for a in argv]) == 0
    assert from_checkpoint == capsys.readouterr().out  # the run's last state is the saved one


def test_an_ema_run_saves_its_average_and_its_checkpoint_holds_both(tmp_path, data_dir, capsys):
    """train --ema: the epoch line gives the average and the trained weights; evaluate of
    the checkpoint gives the average (as saved), with --trained-weights the weights trained."""
    argv = [*TRAIN, "--data-dir", data_dir, "--ema", "0.99", "--checkpoint-dir", tmp_path / "c"]
    assert main([str(a) for a in [*argv, "--save", tmp_path / "net.npz"]]) == 0
    err = capsys.readouterr().err
    average, trained = re.search(
        r"test (\S+%)  \(trained weights: validation \S+, test (\S+%)\)", err
    ).groups()
    last = sorted((tmp_path / "c").glob("ckpt-*.npz"))[-1]
    said = {}
    for name, extra in (
        ("net", [tmp_path / "net.npz"]),
        ("ckpt", [last]),
        ("raw", [last, "--trained-weights"]),
    ):
        assert (
            main(
                [
                    "evaluate",
                    *(str(a) for a in extra),
                    "--data-dir",
                    str(data_dir),
                    "--device",
                    "cpu",
                ]
            )
            == 0
        )
        said[name] = re.search(r"test accuracy (\S+%)", capsys.readouterr().out).group(1)
    assert average != trained  # so that the three evaluations tell the two apart
    assert said == {"net": average, "ckpt": average, "raw": trained}


def test_evaluate_reads_the_dataset_the_model_was_trained_on(tmp_path, monkeypatch, capsys):
    asked = []

    def load(name, data_dir, train_size=None, validation_size=None):
        asked.append(name)
        raise ConfigError("stop here")

    monkeypatch.setattr("gpunn.run_setup.load_data", load)
    net = Network([FullyConnected(10, n_in=784)], input_shape=(784,), device="cpu")
    net.save(tmp_path / "fashion.npz", {"dataset": "fashion-mnist"})
    net.save(tmp_path / "plain.npz")
    for model, extra in (("fashion", []), ("plain", []), ("fashion", ["--dataset", "mnist"])):
        fails(["evaluate", tmp_path / f"{model}.npz", *extra], capsys)
    assert asked == ["fashion-mnist", "mnist", "mnist"]


def test_evaluate_and_predict_take_an_ensemble_file(tmp_path, data_dir, images, capsys):
    nets = [Network([FullyConnected(10, n_in=784)], input_shape=(784,), seed=s) for s in (0, 1)]
    Ensemble(nets).save(tmp_path / "ensemble.npz")
    argv = ["evaluate", tmp_path / "ensemble.npz", "--data-dir", data_dir, "--device", "cpu"]
    assert main([str(a) for a in argv]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "test accuracy of 2 networks"
    assert [line.split(":")[0] for line in lines[1:]] == ["member 0", "member 1", "vote", "average"]
    argv = ["predict", tmp_path / "ensemble.npz", images / "one.png", "--device", "cpu"]
    assert main([str(a) for a in argv]) == 0
    assert re.fullmatch(r".*one\.png: \d \(p = [01]\.\d{3}\)\n", capsys.readouterr().out)


def test_evaluate_takes_several_networks_as_one_ensemble(tmp_path, data_dir, capsys):
    paths = []
    for seed in (0, 1, 2):
        net = Network([FullyConnected(10, n_in=784)], input_shape=(784,), seed=seed)
        net.save(path := tmp_path / f"member{seed}.npz")
        paths.append(path)
    argv = ["evaluate", *paths, "--data-dir", data_dir, "--device", "cpu"]
    assert main([str(a) for a in argv]) == 0
    separate = capsys.readouterr().out
    nets = [Network([FullyConnected(10, n_in=784)], input_shape=(784,), seed=s) for s in (0, 1, 2)]
    Ensemble(nets).save(tmp_path / "ensemble.npz")
    argv = ["evaluate", tmp_path / "ensemble.npz", "--data-dir", data_dir, "--device", "cpu"]
    assert main([str(a) for a in argv]) == 0
    assert separate == capsys.readouterr().out  # the same table as the saved ensemble's
    line = fails(["evaluate", paths[0], tmp_path / "ensemble.npz", "--data-dir", data_dir], capsys)
    assert f"{tmp_path / 'ensemble.npz'}: is an ensemble; give networks or checkpoints" in line
    small = save_model(tmp_path / "small.npz", n_in=100)
    line = fails(["evaluate", paths[0], small, "--data-dir", data_dir], capsys)
    assert "ensemble members disagree on the input shape" in line


def save_model(path, n_out=10, n_in=784):
    Network([FullyConnected(n_out, n_in=n_in)], input_shape=(n_in,), device="cpu").save(path)
    return path


def test_evaluate_refuses_models_that_do_not_fit_the_data(tmp_path, data_dir, capsys):
    five = save_model(tmp_path / "five.npz", n_out=5)
    line = fails(["evaluate", five, "--data-dir", data_dir, "--device", "cpu"], capsys)
    assert f"{five}: has 5 outputs, but mnist has 10 classes" in line
    small = save_model(tmp_path / "small.npz", n_in=100)
    line = fails(["evaluate", small, "--data-dir", data_dir, "--device", "cpu"], capsys)
    assert "takes inputs of shape (N, 100)" in line


def test_evaluate_with_a_missing_model(tmp_path, capsys, no_data):
    line = fails(["evaluate", tmp_path / "absent.npz"], capsys)
    assert f"{tmp_path / 'absent.npz'}: no such file" in line


@pytest.fixture
def images(tmp_path):
    """A good digit PNG and a set of files that are not readable images."""
    from PIL import Image

    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255
    Image.fromarray(digit).save(tmp_path / "one.png")
    Image.fromarray(255 - digit).resize((56, 56)).save(tmp_path / "dark-on-light.png")
    (tmp_path / "notes.png").write_text("not an image\n")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "torn.png").write_bytes((tmp_path / "one.png").read_bytes()[:60])
    (tmp_path / "folder.png").mkdir()
    return tmp_path


def test_predict_prints_a_class_per_image(images, trained, capsys):
    paths = [images / "one.png", images / "dark-on-light.png"]
    assert main(["predict", str(trained / "net.npz"), *map(str, paths), "--device", "cpu"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [str(p) for p in paths]
    assert all(" (p = " in line for line in lines)


@pytest.mark.parametrize(
    "name", ["missing.png", "notes.png", "empty.png", "torn.png", "folder.png"]
)
def test_predict_with_an_unreadable_image(name, images, trained, capsys):
    argv = ["predict", trained / "net.npz", images / "one.png", images / name, "--device", "cpu"]
    line = fails(argv, capsys)
    assert f"{images / name}: cannot be read as an image" in line
    assert capsys.readouterr().out == ""


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_predict_with_an_image_it_may_not_read(images, trained, capsys):
    (images / "one.png").chmod(0)
    line = fails(["predict", trained / "net.npz", images / "one.png", "--device", "cpu"], capsys)
    assert "one.png: cannot be read as an image" in line


def test_predict_with_a_model_for_other_inputs(tmp_path, images, capsys):
    small = save_model(tmp_path / "small.npz", n_in=100)
    line = fails(["predict", small, images / "one.png", "--device", "cpu"], capsys)
    assert "takes inputs of shape (100,), not 28×28" in line


# --- the real process ------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--eta", "-1"], "gpunn: error: the learning rate eta must be positive"),
        (["train", "--preset", "lenet"], "gpunn: error: unknown preset 'lenet'"),
        (["train", "--epochs", "0"], "gpunn train: error: argument --epochs"),
        (["predict", "NET", "notes.png"], "notes.png: cannot be read as an image"),
        (["evaluate", "absent.npz"], "gpunn: error: absent.npz: no such file"),
    ],
    ids=["negative eta", "unknown preset", "zero epochs", "not an image", "missing model"],
)
def test_the_real_command_fails_in_one_line_without_a_traceback(
    argv, message, images, trained, tmp_path
):
    argv = [str(trained / "net.npz") if a == "NET" else a for a in argv]
    done = gpunn(*argv, cwd=images)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and message in done.stderr
    assert done.stdout == ""


def test_a_closed_pipe_is_no_error(tmp_path):
    read, write = os.pipe()
    os.close(read)  # as `gpunn presets | head -0` does, before gpunn writes
    try:
        done = subprocess.run(
            command("presets"), cwd=tmp_path, env=env(tmp_path), stdout=write,
            stderr=subprocess.PIPE, text=True, timeout=TIMEOUT_S,
        )  # fmt: skip
    finally:
        os.close(write)
    assert done.returncode == 0 and done.stderr == ""


def interrupted(args):
    raise KeyboardInterrupt


def test_ctrl_c_outside_training_is_one_line(monkeypatch, capsys):
    monkeypatch.setattr("gpunn.commands.cmd_presets", interrupted)
    assert main(["presets"]) == 130
    assert capsys.readouterr().err == "gpunn: interrupted\n"


@pytest.mark.parametrize("exits", [True, False])
def test_after_ctrl_c_the_program_ignores_one_more_and_a_caller_gets_its_handlers(
    exits, monkeypatch, capsys
):
    """The program ending (``exits``): else a Ctrl-C as Python shuts down prints 'Exception
    ignored ... KeyboardInterrupt'. A caller going on: its own handlers, or the processes it
    starts next would inherit an ignored SIGINT and SIGTERM (and gpunn ones keep them so)."""
    monkeypatch.setattr("gpunn.commands.cmd_presets", interrupted)
    monkeypatch.setattr(sys, "argv", ["gpunn", "presets"])
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGALRM)
    previous = {sig: signal.getsignal(sig) for sig in signals}
    try:
        assert main(exits=exits) == 130
        now = {sig: signal.getsignal(sig) for sig in signals}
        ignored = {signal.SIGINT: signal.SIG_IGN, signal.SIGTERM: signal.SIG_IGN}
        assert now == ({**previous, **ignored} if exits else previous)
    finally:  # this test process's own handlers back
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def test_distortion_words_name_only_the_settings_away_from_the_defaults():
    assert distortion_words(TrainConfig(distort_scale=0.1)) == ["sizes ×(1 ± 0.1)"]
    assert distortion_words(TrainConfig(distort_strength=0.5, elastic_alpha=0)) == [
        "strength 0.5",
        "elastic α 0",
    ]
    assert distortion_words(TrainConfig()) == []


@pytest.mark.parametrize(
    "exc, said",
    [
        (MemoryError("Unable to allocate 5.70 TiB"), "Unable to allocate 5.70 TiB"),
        (MemoryError(), "an allocation failed"),
    ],
)
def test_running_out_of_memory_is_one_line(exc, said, monkeypatch, capsys):
    def huge(args):
        raise exc

    monkeypatch.setattr("gpunn.commands.cmd_presets", huge)
    assert fails(["presets"], capsys) == f"gpunn: error: out of memory: {said}"


def test_trained_weights_of_a_saved_average_point_to_the_checkpoints(data_dir, cwd, capsys):
    argv = [*TRAIN, "--data-dir", data_dir, "--ema", "0.5", "--save", "net.npz"]
    assert main([str(a) for a in [*argv, "--checkpoint-dir", "ck"]]) == 0
    evaluate = ["evaluate", "--data-dir", data_dir, "--device", "cpu", "--trained-weights"]
    line = fails([*evaluate, "net.npz"], capsys)
    assert "net.npz: holds the average of its run's weights (--ema)" in line
    assert main([str(a) for a in [*evaluate, sorted(cwd.glob("ck/ckpt-*.npz"))[-1]]]) == 0


def test_evaluate_refuses_one_network_twice_and_mixed_datasets(tmp_path, data_dir, capsys):
    a, b = save_model(tmp_path / "a.npz"), tmp_path / "b.npz"
    Network([FullyConnected(10, n_in=784)], input_shape=(784,)).save(
        b, {"dataset": "fashion-mnist"}
    )
    evaluate = ["evaluate", "--data-dir", data_dir, "--device", "cpu"]
    assert "a.npz: given twice" in fails([*evaluate, a, tmp_path / "." / "a.npz"], capsys)
    line = fails([*evaluate, a, b], capsys)
    assert "trained on different datasets (fashion-mnist, mnist); give --dataset" in line
    assert main([str(x) for x in [*evaluate, a, b, "--dataset", "mnist"]]) == 0


def test_an_ensemble_s_metrics_file_holds_its_accuracies(data_dir, cwd):
    argv = [*TRAIN, "--ensemble", "2", "--data-dir", data_dir, "--metrics", "e.jsonl"]
    assert main([str(a) for a in argv]) == 0
    (final,) = [json.loads(line) for line in (cwd / "e.jsonl").read_text().splitlines()]
    assert final["final"] and len(final["ensemble"]["members"]) == 2
    assert {"vote", "average"} <= set(final["ensemble"])


def test_predict_reads_digits_of_any_depth_and_refuses_odd_sizes(tmp_path):
    from PIL import Image

    from gpunn.inspect_commands import read_image

    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255
    Image.fromarray(digit).save(tmp_path / "8bit.png")
    Image.fromarray(digit.astype(np.uint16) * 257).save(tmp_path / "16bit.png")
    ink = np.zeros((28, 28, 4), np.uint8)
    ink[..., 3] = digit  # black strokes on a transparent background
    Image.fromarray(ink, "RGBA").save(tmp_path / "transparent.png")
    Image.fromarray(digit.astype(np.float32) / 255, "F").save(tmp_path / "float.tiff")
    paper = np.full((28, 28, 4), 255, np.uint8)
    paper[..., :3] = 255 - digit[..., None]  # black on white, one transparent corner
    paper[0, 0, 3] = 0
    Image.fromarray(paper, "RGBA").save(tmp_path / "opaque.png")
    reference = read_image(tmp_path / "8bit.png")
    assert reference.max() == 1.0
    for name in ("16bit.png", "transparent.png", "float.tiff", "opaque.png"):
        np.testing.assert_allclose(read_image(tmp_path / name), reference, atol=1e-6)
    for size in ((1, 1), (4100, 8)):
        Image.new("L", size).save(tmp_path / "odd.png")
        with pytest.raises(DataError, match=rf"odd.png: is {size[0]}×{size[1]} pixels; give"):
            read_image(tmp_path / "odd.png")


def test_the_command_line_modules_load_no_heavy_library_before_its_handler():
    """What ``python -m gpunn`` imports before ``main`` runs lies outside its Ctrl-C handler:
    it must stay the standard library (NumPy alone takes ~0.1 s, a window for a traceback)."""
    modules = "sorted({m.split('.')[0] for m in sys.modules})"
    code = f"import sys, gpunn.cli, gpunn.parser; print({modules})"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(ast.literal_eval(out.stdout))
    assert not loaded & {"numpy", "numba", "PIL", "matplotlib", "cupy", "scipy"}, loaded


def python_c(code: str) -> subprocess.CompletedProcess:
    """``python -c CODE`` to the end (text, stdout and stderr captured)."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT_S
    )


# A library that meets a Ctrl-C in its own import: NumPy's C extensions turn it into an
# ImportError ("Importing the numpy C-extensions failed"), and a module that tries an
# optional import (``except ImportError: pass``) then drops it. Seen on a loaded machine.
CONVERTS = """
def workers(*args):
    try:
        os.kill(os.getpid(), signal.SIGINT); time.sleep(5)
    except KeyboardInterrupt as exc:
        raise ImportError("a library's own error") from exc
"""
DROPS = CONVERTS.replace('raise ImportError("a library\'s own error") from exc', "pass")
DROPS_THEN_WAITS = DROPS + "    time.sleep(60)  # as predict on a FIFO no one writes\n"


@pytest.mark.parametrize(
    "library, where",
    [
        (CONVERTS, "threads"),
        (DROPS, "threads"),
        (DROPS_THEN_WAITS, "commands"),
        (DROPS.replace("time.sleep(5)", "pass"), "commands"),
    ],
    ids=["converts", "drops", "drops-in-the-command", "drops-then-the-command-ends"],
)
def test_a_ctrl_c_that_a_library_turns_into_its_error_or_drops_still_stops(library, where):
    """Before the command runs (``workers()``), or inside it (``cmd_presets``, which then
    waits a minute: the signal is said again after 0.5 s; or ends at once: 130 all the
    same, the Ctrl-C came before the work was done)."""
    code = (
        "import os, signal, sys, time\n"
        "import gpunn.kernels.threads as threads, gpunn.commands as commands\n"
        f"{library}\n"
        + (
            "threads.workers = workers\n"
            if where == "threads"
            else "commands.cmd_presets = workers\n"
        )
        + "from gpunn.cli import main\n"
        "sys.argv = ['gpunn', 'presets']\n"
        "sys.exit(main())\n"
    )
    run = python_c(code)
    assert (run.returncode, run.stderr, run.stdout) == (130, "gpunn: interrupted\n", "")


def test_a_dropped_ctrl_c_leaves_nothing_behind_for_the_caller_of_main():
    """main() run in-process twice: the first's dropped Ctrl-C ends it (an error line and
    the interrupt's), its re-send is cancelled (no SIGALRM, no KeyboardInterrupt later),
    and the second main() knows nothing of it."""
    code = (
        "import os, signal, sys, time\n"
        "import gpunn.commands as commands\n"
        "from gpunn.errors import DataError\n"
        "def cmd_presets(args):\n"
        "    try:\n"
        "        os.kill(os.getpid(), signal.SIGINT); time.sleep(5)\n"
        "    except KeyboardInterrupt:\n"
        "        raise DataError('the file was cut short') from None\n"
        "real, commands.cmd_presets = commands.cmd_presets, cmd_presets\n"
        "from gpunn.cli import main\n"
        "sys.argv = ['gpunn', 'presets']\n"
        "first = main()\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "time.sleep(1)  # past the re-send\n"
        "commands.cmd_presets = real\n"
        "print(first, main(['presets']) == 0)\n"
    )
    run = python_c(code)
    assert run.returncode == 0, run.stderr
    assert run.stderr == "gpunn: error: the file was cut short\ngpunn: interrupted\n"
    assert run.stdout.splitlines()[-1] == "130 True"


# A Ctrl-C taken by gpunn.signals' handler and dropped, as CPython drops one raised in
# importlib's module-lock callback ("Exception ignored"), before gpunn's main runs.
DROPPED_CTRL_C = (
    "import os, signal, sys\n"
    "from gpunn import signals\n"
    "from gpunn.__main__ import run\n"
    "signals.record()\n"
    "try:\n"
    "    os.kill(os.getpid(), signal.SIGINT)\n"
    "except KeyboardInterrupt:\n"
    "    pass\n"
)


@pytest.mark.parametrize("module", ["gpunn.signals", "gpunn.cli"])
def test_a_ctrl_c_while_gpunn_s_signal_module_loads_is_one_line(module):
    """Before ``gpunn.signals`` has loaded, ``gpunn.__main__`` takes SIGINT through ``_signal``:
    a Ctrl-C during that import, or during the command line's once it has (made here by an
    import hook), is gpunn's one line, not a traceback; the program then ignores more, and
    no re-send is left armed (SIGALRM's handler as it was)."""
    code = (
        "import os, signal, sys, time\n"
        "class Finder:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name == {module!r}:\n"
        "            os.kill(os.getpid(), signal.SIGINT)\n"
        "            time.sleep(5)\n"
        "sys.meta_path.insert(0, Finder())\n"
        "from gpunn.__main__ import run\n"
        "sys.argv = ['gpunn', 'presets']\n"
        "code = run()\n"
        "alarm = signal.getsignal(signal.SIGALRM) == signal.SIG_DFL\n"
        "print(code, signal.getsignal(signal.SIGINT) == signal.SIG_IGN, alarm)\n"
    )
    run = python_c(code)
    assert run.stderr == "gpunn: interrupted\n", run.stderr
    assert run.stdout.splitlines()[-1] == "130 True True"


def test_a_ctrl_c_just_after_gpunn_takes_sigint_is_one_line():
    """The first window of ``gpunn.__main__``: a Ctrl-C right after its first handler is set
    (made here by wrapping ``_signal.signal``) is gpunn's one line, not a traceback."""
    code = (
        "import _signal, os, sys\n"
        "real = _signal.signal\n"
        "def then_ctrl_c(sig, handler):\n"
        "    old = real(sig, handler)\n"
        "    if sig == _signal.SIGINT and handler not in (_signal.SIG_IGN, _signal.SIG_DFL):\n"
        "        _signal.signal = real\n"
        "        os.kill(os.getpid(), _signal.SIGINT)\n"
        "    return old\n"
        "from gpunn.__main__ import run\n"
        "_signal.signal = then_ctrl_c\n"
        "sys.argv = ['gpunn', 'presets']\n"
        "sys.exit(run())\n"
    )
    run = python_c(code)
    assert run.returncode == 130 and run.stderr == "gpunn: interrupted\n", run.stderr


def test_a_ctrl_c_dropped_before_main_still_stops_the_command():
    """``gpunn.__main__`` records signals from its first line: one that Python dropped
    before ``main`` ran (importlib's module-lock callback does) stops the command."""
    code = DROPPED_CTRL_C + "sys.argv = ['gpunn', 'presets']\nsys.exit(run())\n"
    run = python_c(code)
    assert (run.returncode, run.stderr, run.stdout) == (130, "gpunn: interrupted\n", "")


def test_a_recorded_ctrl_c_is_reported_even_by_version_and_then_forgotten():
    """argparse's ``--version`` ends by SystemExit: after a dropped Ctrl-C that is 130 and
    one line too, and the record is cleared for a later in-process ``main(argv)``."""
    code = DROPPED_CTRL_C + (
        "from gpunn.cli import main\n"
        "sys.argv = ['gpunn', '--version']\n"
        "first = run()\n"
        "print(first, signals.received, main(['presets']) == 0)\n"
    )
    run = python_c(code)
    assert run.returncode == 0, run.stderr
    assert run.stderr == "gpunn: interrupted\n"
    assert run.stdout.splitlines()[-1] == "130 [] True"


def _wait_until(proc, name: str, says) -> None:
    """Poll ``/proc/PID/name`` until ``says(text)`` (Linux; elsewhere, or after 10 s: go on)."""
    path, deadline = Path(f"/proc/{proc.pid}/{name}"), time.monotonic() + 10
    while time.monotonic() < deadline and proc.poll() is None and path.exists():
        if says(path.read_text()):
            return
        time.sleep(0.002)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_outside_training_is_one_line_and_130(sig, tmp_path):
    """SIGTERM while predict waits on its image (a FIFO no one writes), or Ctrl-C during
    start-up, once gpunn's imports have begun (NumPy's library is mapped; before that it is
    Python's own start-up): one line, exit 130, no traceback."""
    save_model(tmp_path / "net.npz")
    os.mkfifo(tmp_path / "digit.png")
    proc = start("predict", "net.npz", "digit.png", "--device", "cpu", cwd=tmp_path)
    if sig == signal.SIGTERM:
        _wait_until(proc, "wchan", lambda text: text == "wait_for_partner")
    else:
        _wait_until(proc, "maps", lambda text: "_multiarray_umath" in text)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=TIMEOUT_S)
    # 130, or death by SIGINT itself (a shell's $? is 130 either way): when the Ctrl-C lands
    # in code an extension runs through PyRun_String during an import, CPython marks it
    # unhandled and re-raises SIGINT at exit, although gpunn caught it and said so
    assert proc.returncode in ((130, -signal.SIGINT) if sig == signal.SIGINT else (130,)), err
    assert err.strip().splitlines()[-1] == "gpunn: interrupted" and "Traceback" not in err


def test_a_command_started_ignoring_ctrl_c_keeps_ignoring_it(tmp_path):
    """A background job of a script (its shell set SIGINT to be ignored): the script's
    Ctrl-C does not stop it, at any point of its run; SIGTERM still does, in one line."""
    save_model(tmp_path / "net.npz")
    os.mkfifo(tmp_path / "digit.png")
    proc = subprocess.Popen(
        command("predict", "net.npz", "digit.png", "--device", "cpu"),
        cwd=tmp_path,
        env=env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    _wait_until(proc, "maps", lambda text: "_multiarray_umath" in text)
    proc.send_signal(signal.SIGINT)  # during the imports
    _wait_until(proc, "wchan", lambda text: text == "wait_for_partner")
    proc.send_signal(signal.SIGINT)  # waiting on its image
    time.sleep(1)
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=TIMEOUT_S)
    assert proc.returncode == 130 and err == "gpunn: interrupted\n", err
