"""The command line refuses bad input with one line and a non-zero exit, before any work:
malformed options (usage errors), bad values (configuration errors) and broken data files.

The cases call ``gpunn.cli.main`` in this process (an exception escaping it fails the
test, so "no traceback" holds there by construction). Resuming, evaluate and predict, and
the real ``python -m gpunn`` process have their own files (``test_cli_resume.py``,
``test_cli_evaluate.py``, ``test_cli_process.py``); what they share is ``cli_fixtures.py``.
"""

import gzip
import re
import struct

import numpy as np
import pytest

from gpunn import backend
from gpunn.cli import main
from gpunn.commands import distortion_words
from gpunn.config import TrainConfig
from gpunn.parser import build_parser
from gpunn.run_setup import build_run
from gpunn.serialize import load_model
from tests.cli_fixtures import (
    TRAIN,
    fixture_data_dir,  # noqa: F401
    fixture_no_data,  # noqa: F401
    fixture_trained,  # noqa: F401
)
from tests.faults import fails, snapshot

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


def test_distortions_with_deskew_shows_the_deskewed_digit_and_distorts_it(
    data_dir, tmp_path, monkeypatch
):
    from gpunn.data.deskew import deskew

    pytest.importorskip("matplotlib")
    drawn = {}
    monkeypatch.setattr(
        "gpunn.plots.plot_image_grid",
        lambda grid, path, titles, title: drawn.update(grid=grid, titles=titles, title=title),
    )
    argv = ["distortions", "--data-dir", data_dir, "--digits", "2", "--draws", "1"]
    assert main([str(a) for a in [*argv, "--deskew", "--out", tmp_path / "d.png"]]) == 0
    assert drawn["titles"] == ["digit", "deskewed", "draw 1"]
    assert drawn["title"].endswith("of the deskewed digits")
    digits = drawn["grid"][:, 0]
    np.testing.assert_array_equal(drawn["grid"][:, 1], deskew(digits))
    plain = dict(drawn)
    assert main([str(a) for a in [*argv, "--out", tmp_path / "d.png"]]) == 0
    assert drawn["titles"] == ["digit", "draw 1"]  # the same seed's draw, of other images
    assert not np.array_equal(drawn["grid"][:, 1], plain["grid"][:, 2])


def test_the_start_line_names_the_update_terms_with_their_decay_per_image(data_dir, capsys):
    argv = [*TRAIN, "--data-dir", data_dir, "--lmbda", "150", "--l1", "5", "--momentum", "0.9"]
    assert main([str(a) for a in [*argv, "--expand", "shifts"]]) == 0
    first = capsys.readouterr().err.splitlines()[0]
    # n is the 2,500 images the expansion makes of the 500, as the update divides by
    assert "momentum μ 0.9, L2 λ 150 (λ/n = 0.06), L1 λ₁ 5 (λ₁/n = 0.002)" in first
    assert main([str(a) for a in [*TRAIN, "--data-dir", data_dir]]) == 0
    assert "λ" not in capsys.readouterr().err.splitlines()[0]


def test_schedule_zero_turns_the_preset_schedule_off():
    def config(*extra):
        args = build_parser().parse_args(["train", "--preset", "fc100-ce-l2", *extra])
        return build_run(args)[1]

    assert config().schedule == 5
    assert config("--schedule", "0").schedule is None
    assert config("--schedule", "2").schedule == 2


def test_distortion_words_name_only_the_settings_away_from_the_defaults():
    assert distortion_words(TrainConfig(distort_scale=0.1)) == ["sizes ×(1 ± 0.1)"]
    assert distortion_words(TrainConfig(distort_strength=0.5, elastic_alpha=0)) == [
        "strength 0.5",
        "elastic α 0",
    ]
    assert distortion_words(TrainConfig()) == []


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


@pytest.mark.parametrize(
    "option", ["--resume", "--save", "--metrics", "--checkpoint-dir", "--data-dir"]
)
def test_an_empty_path_is_refused_not_taken_as_none_or_here(option, capsys):
    """``--resume "$DIR"`` with DIR unset must not start a fresh run."""
    with pytest.raises(SystemExit) as info:
        main(["train", "--preset", "fc30", option, ""])
    assert info.value.code == 2
    assert f"argument {option}: give a file or folder name" in capsys.readouterr().err


def test_a_mini_batch_too_large_is_refused_before_the_start_line(data_dir, capsys):
    argv = [*TRAIN, "--batch-size", "600", "--data-dir", data_dir]
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert "training fc30" not in err
    assert "mini-batch size (600) is larger than the training data (500 images)" in err
