"""Output files: refused before the work when they cannot be written or would overwrite an
input, and written atomically, so a failed or interrupted command leaves earlier files whole."""

import errno
import json
import os
import re
import sys

import pytest

from gpunn import files
from gpunn.cli import main
from gpunn.config import TrainConfig
from gpunn.errors import ConfigError
from gpunn.files import check_distinct, check_output
from gpunn.interrupts import TrainingInterrupted
from gpunn.layers import FullyConnected, Softmax
from gpunn.monitor import write_metrics
from gpunn.network import Network
from gpunn.train import Trainer
from tests.faults import fails, interrupt_at_step, snapshot, write_pkl_dataset
from tests.synthetic import blobs

TRAIN = ["train", "--preset", "fc30", "--train-size", "300", "--epochs", "1", "--device", "cpu"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_pkl_dataset(tmp_path_factory.mktemp("data"), n_train=300, n_test=100)


def full_disk(monkeypatch):
    """Writes fail at their last step, the fsync (durable ones) or the rename (all)."""

    def no_space(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", no_space)
    monkeypatch.setattr(files.os, "replace", no_space)


# --- check_output, check_distinct ------------------------------------------------------
def test_check_output_takes_a_writable_place_and_names_the_option_otherwise(tmp_path):
    (tmp_path / "a_file").write_text("x")
    assert check_output(tmp_path / "new" / "deeper" / "m.npz", "--save") == (
        tmp_path / "new" / "deeper" / "m.npz"
    )
    assert not (tmp_path / "new").exists()  # nothing made by the check
    cases = [
        ((tmp_path, "--save"), {}, "--save .*: is a folder"),
        ((tmp_path / "a_file", "--checkpoint-dir"), {"folder": True}, "is a file, not a folder"),
        ((tmp_path / "a_file" / "m.npz", "--save"), {}, "a_file is not a folder"),
        ((tmp_path / "a_file", "--out"), {"inputs": [tmp_path / "a_file"]}, "is an input"),
    ]
    for args, kwargs, message in cases:
        with pytest.raises(ConfigError, match=message):
            check_output(*args, **kwargs)
    assert sorted(os.listdir(tmp_path)) == ["a_file"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes whatever a folder's mode says")
def test_check_output_refuses_a_folder_without_write_permission(tmp_path):
    (tmp_path / "ro").mkdir(mode=0o500)
    with pytest.raises(ConfigError, match=r"--save .*ro/m.npz: cannot write in .*ro \(Permission"):
        check_output(tmp_path / "ro" / "m.npz", "--save")


def test_check_output_refuses_what_a_rename_cannot_replace(tmp_path):
    with pytest.raises(ConfigError, match="--metrics /dev/null: is not a regular file"):
        check_output("/dev/null", "--metrics")


def test_an_output_through_a_symbolic_link_keeps_the_link(tmp_path):
    (tmp_path / "real.jsonl").write_text("old\n")
    (tmp_path / "link.jsonl").symlink_to(tmp_path / "real.jsonl")
    write_metrics(tmp_path / "link.jsonl", [{"epoch": 1}])
    assert (tmp_path / "link.jsonl").is_symlink()
    assert (tmp_path / "real.jsonl").read_text() == '{"epoch": 1}\n'
    with pytest.raises(ConfigError, match="name the same file"):
        check_distinct({"--save": tmp_path / "real.jsonl", "--metrics": tmp_path / "link.jsonl"})


def test_check_output_tries_the_folder_it_would_write_in(tmp_path, monkeypatch):
    """A read-only mount (or permissions, for anyone but root) is found before the work."""

    def read_only(dir):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(files.tempfile, "TemporaryFile", read_only)
    with pytest.raises(ConfigError, match=r"--metrics .*m.jsonl: cannot write in .* \(Read-only"):
        check_output(tmp_path / "m.jsonl", "--metrics")


def test_two_outputs_may_not_share_a_file(tmp_path):
    check_distinct({"--save": "a.npz", "--metrics": None, "--json": "b.json"})
    with pytest.raises(ConfigError, match="--save x.npz and --metrics ./x.npz name the same file"):
        check_distinct({"--save": "x.npz", "--metrics": "./x.npz"})


# --- atomic writes -----------------------------------------------------------------------
def test_a_failed_metrics_write_leaves_the_old_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "m.jsonl"
    write_metrics(path, [{"epoch": 1}])
    before = path.read_bytes()
    full_disk(monkeypatch)
    with pytest.raises(OSError, match=r"cannot write .*m.jsonl: No space left"):
        write_metrics(path, [{"epoch": 1}, {"epoch": 2}])
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.jsonl"]


def test_a_failed_plot_leaves_the_old_png_whole(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from gpunn.plots import plot_speeds

    class Run:
        label, speeds, steps = "net", [[1.0, 0.1]], [0]

    out = tmp_path / "g.png"
    out.write_bytes(b"an earlier plot")
    full_disk(monkeypatch)
    with pytest.raises(OSError, match="No space left"):
        plot_speeds([Run()], out)
    assert out.read_bytes() == b"an earlier plot"
    assert os.listdir(tmp_path) == ["g.png"]


# --- the commands ------------------------------------------------------------------------
def test_a_run_that_fails_leaves_an_earlier_metrics_file_whole(cwd, data_dir, capsys):
    (cwd / "m.jsonl").write_text('{"epoch": 1}\n')
    argv = [*TRAIN, "--data-dir", data_dir, "--eta", "1e308", "--metrics", "m.jsonl"]
    assert "non-finite" in fails(argv, capsys, code=3)
    assert (cwd / "m.jsonl").read_text() == '{"epoch": 1}\n'


@pytest.mark.parametrize("stop_at, epochs_left", [(10, [7] * 9), (70, [1])])
def test_a_run_replaces_an_earlier_metrics_file_epoch_by_epoch(stop_at, epochs_left, cwd):
    """Stopped in its first epoch (step 10 of 60), a run leaves the earlier file as it was;
    stopped in its second (step 70), the file holds its first epoch and nothing else."""
    path = cwd / "m.jsonl"  # and the interrupt's checkpoint folder goes to cwd
    path.write_text('{"epoch": 7}\n' * 9)
    net = Network([FullyConnected(20, "relu"), Softmax(10)], "log-likelihood", device="cpu")
    cfg = TrainConfig(epochs=3, eta=0.05)
    trainer = Trainer(net, blobs(), cfg, log=lambda m: None, metrics_path=path)
    interrupt_at_step(trainer, stop_at)
    with pytest.raises(TrainingInterrupted):
        trainer.run()
    assert [json.loads(line)["epoch"] for line in path.read_text().splitlines()] == epochs_left


@pytest.mark.parametrize(
    "extra, message",
    [
        (
            ["--save", "x.npz", "--metrics", "x.npz"],
            "--save x.npz and --metrics x.npz name the same file",
        ),
        (["--save", "DATA/mnist.pkl.gz"], "--save .*mnist.pkl.gz: is an input of this command"),
        (["--metrics", "DATA/mnist.pkl.gz"], "--metrics .*: is an input of this command"),
        (["--checkpoint-dir", "ck", "--save", "ck"], "--save ck: is the --checkpoint-dir"),
        (
            ["--checkpoint-dir", "ck", "--metrics", "ck/ckpt-0001-000000.npz"],
            "is named as the run's checkpoints in ck",
        ),
        (  # member 0's epochs would go over the saved ensemble
            ["--ensemble", "2", "--save", "x.member0", "--metrics", "x"],
            r"--save x.member0 and --metrics \(member 0\) x.member0 name the same file",
        ),
        (  # room for the name, not for the temporary file beside it
            ["--save", "b" * 246 + ".npz"],
            "the name b{40}… is too long; at most 241 bytes here",
        ),
        (["--metrics", "c" * 256 + "/m.jsonl"], "the name c{40}… is too long$"),
    ],
)
def test_train_refuses_outputs_over_its_inputs_or_each_other(extra, message, cwd, data_dir, capsys):
    before = snapshot(data_dir)
    argv = [*TRAIN, "--data-dir", data_dir, *(str(a).replace("DATA", str(data_dir)) for a in extra)]
    assert re.search(message, fails(argv, capsys))
    assert snapshot(data_dir) == before
    assert sorted(p.name for p in cwd.iterdir()) == []


def test_a_loop_of_symbolic_links_is_one_error_before_the_work(cwd, data_dir, capsys):
    for name in ("loop.npz", "loop.png"):
        (cwd / name).symlink_to(cwd / name)
    write_metrics(cwd / "m.jsonl", [{"epoch": 1, "test_accuracy": 0.9}, {"final": True}])
    train = [*TRAIN, "--data-dir", data_dir, "--save", "loop.npz"]
    assert fails(train, capsys).endswith("--save loop.npz: a loop of symbolic links")
    assert fails(["evaluate", "loop.npz", "loop.npz"], capsys).endswith(
        "loop.npz: a loop of symbolic links"
    )
    curves = ["curves", "m.jsonl", "--out", "loop.png"]
    assert fails(curves, capsys).endswith("--out loop.png: a loop of symbolic links")
    assert sorted(p.name for p in cwd.iterdir()) == ["loop.npz", "loop.png", "m.jsonl"]
    with pytest.raises(OSError, match="cannot write .*loop.png: a loop of symbolic links"):
        files.atomic_write_bytes(cwd / "loop.png", b"x")


def test_the_name_checked_for_length_is_the_one_a_link_names(tmp_path):
    (tmp_path / "t.npz").touch()
    (tmp_path / ("l" * 246 + ".npz")).symlink_to(tmp_path / "t.npz")
    check_output(tmp_path / ("l" * 246 + ".npz"), "--save")  # writes t.npz
    (tmp_path / ("x" * 246 + ".npz")).touch()
    (tmp_path / "s.npz").symlink_to(tmp_path / ("x" * 246 + ".npz"))
    with pytest.raises(ConfigError, match="the name x{40}… is too long; at most 241 bytes"):
        check_output(tmp_path / "s.npz", "--save")


def test_a_file_written_over_keeps_its_mode(tmp_path):
    (tmp_path / "m.jsonl").write_text("old\n")
    os.chmod(tmp_path / "m.jsonl", 0o600)
    write_metrics(tmp_path / "m.jsonl", [{"epoch": 1}])
    assert (tmp_path / "m.jsonl").stat().st_mode & 0o777 == 0o600


def test_curves_will_not_draw_over_its_own_input(cwd, capsys):
    write_metrics(cwd / "run.png", [{"epoch": 1, "test_accuracy": 0.9}, {"final": True}])
    before = (cwd / "run.png").read_bytes()
    assert "is an input of this command" in fails(["curves", "run.png", "--out", "run.png"], capsys)
    assert (cwd / "run.png").read_bytes() == before


def test_bench_with_an_unknown_preset_leaves_an_earlier_record_whole(cwd, capsys):
    (cwd / "b.json").write_text('{"rows": [1]}')
    argv = ["bench", "--device", "cpu", "--presets", "bogus", "--peers", "none"]
    message = fails([*argv, "--no-kernels", "--json", "b.json"], capsys)
    assert "unknown preset 'bogus'" in message
    assert (cwd / "b.json").read_text() == '{"rows": [1]}'


def test_bench_without_its_data_leaves_an_earlier_record_whole(cwd, capsys):
    (cwd / "b.json").write_text('{"rows": [1]}')
    (cwd / "empty").mkdir()
    argv = ["bench", "--device", "cpu", "--presets", "fc30", "--peers", "none", "--no-kernels"]
    data = ["--data", "mnist", "--data-dir", "empty"]
    message = fails([*argv, *data, "--json", "b.json"], capsys)
    assert "train-images-idx3-ubyte" in message
    assert (cwd / "b.json").read_text() == '{"rows": [1]}'
    fails([*argv, *data, "--json", "new/deep/b.json"], capsys)
    assert not (cwd / "new").exists()


def test_bench_will_not_write_its_record_over_the_data(cwd, capsys, monkeypatch):
    import numpy as np

    from gpunn.benchmark import subjects

    (cwd / "labels.gz").write_bytes(b"the data")
    images = subjects.Images(np.zeros((8, 784), np.float32), np.zeros(8, int), "mnist")
    images = subjects.Images(images.x, images.y, images.source, (cwd / "labels.gz",))
    monkeypatch.setattr(subjects, "load_images", lambda kind, folder: images)
    argv = ["bench", "--device", "cpu", "--presets", "fc30", "--peers", "none"]
    message = fails([*argv, "--data", "mnist", "--json", "./labels.gz"], capsys)
    assert "is an input of this command" in message
    assert (cwd / "labels.gz").read_bytes() == b"the data"


def test_bench_with_torch_threads_and_no_torch_says_so_in_the_rows(cwd, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    argv = ["bench", "--device", "cpu", "--presets", "fc30", "--batch-sizes", "4"]
    argv += ["--modes", "infer", "--repeats", "1", "--seconds", "0.001", "--warmup-steps", "1"]
    argv += ["--data", "random", "--max-load", "-1", "--gap", "0", "--peers", "torch"]
    assert main([*argv, "--torch-threads", "2", "--results-dir", "out"]) == 0
    (record,) = [json.loads(p.read_text()) for p in (cwd / "out").iterdir()]
    assert record["complete"] and record["rows"][0]["peers"]["torch"]["available"] is False
    assert "PyTorch is not importable" in capsys.readouterr().out


def test_gradients_refuses_an_out_folder_that_is_a_file_before_the_study(cwd, capsys):
    (cwd / "afile").write_text("x")
    message = fails(["gradients", "--out", "afile", "--data-dir", cwd / "nowhere"], capsys)
    assert "--out afile: is a file, not a folder" in message
    assert sorted(p.name for p in cwd.iterdir()) == ["afile"]


@pytest.mark.parametrize(
    "option, value, words",
    [
        ("--peers", "none,torch", "none stands alone"),
        ("--batch-sizes", "10,99999999999999999999", "not allowed: 99999999999999999999"),
        ("--seconds", "inf", "must be a finite positive number"),
        ("--max-load", "nan", "must be a finite number"),
        ("--quiet-timeout", "-5", "must be a finite non-negative number"),
        ("--gap", "1e300", "must be at most 3600 seconds"),
        ("--results-dir", "", "give a file or folder name"),
    ],
)
def test_bench_refuses_odd_options_before_measuring(option, value, words, cwd, capsys):
    with pytest.raises(SystemExit) as info:
        main(["bench", option, value, "--json", "b.json"])
    assert info.value.code == 2
    assert words in capsys.readouterr().err
    assert list(cwd.iterdir()) == []
