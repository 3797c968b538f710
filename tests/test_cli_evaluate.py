"""``evaluate`` and ``predict`` on the command line: the accuracy of a saved network, a
checkpoint (its average, or with ``--trained-weights`` the weights trained), an ensemble
file or several networks, on the split the network was trained with and with test-time
shifts; a deskewing network trained, saved and evaluated on deskewed digits; an
ensemble's metrics file; predict's reading of digit images of any depth; and the
one-line refusals of models, images and datasets that do not fit.
"""

import json
import os
import re

import numpy as np
import pytest

from gpunn.cli import main
from gpunn.ensemble import Ensemble
from gpunn.errors import ConfigError, DataError
from gpunn.layers import FullyConnected
from gpunn.network import Network
from gpunn.serialize import load_model
from tests.cli_fixtures import (
    TRAIN,
    fixture_data_dir,  # noqa: F401
    fixture_images,  # noqa: F401
    fixture_no_data,  # noqa: F401
    fixture_trained,  # noqa: F401
    save_model,
)
from tests.faults import fails


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


def test_every_member_of_a_deskewing_ensemble_deskews(data_dir, tmp_path, capsys):
    argv = [*TRAIN, "--data-dir", data_dir, "--deskew", "--ensemble", "2"]
    argv += ["--checkpoint-dir", tmp_path / "ck"]  # not gpunn-checkpoints-N where pytest runs
    assert main([str(a) for a in [*argv, "--save", tmp_path / "e.npz"]]) == 0
    capsys.readouterr()
    members = load_model(tmp_path / "e.npz").networks
    assert [net.input_transform for net in members] == ["deskew", "deskew"]


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


def test_predict_with_an_image_pillow_trips_over(images, trained, monkeypatch, capsys):
    """Pillow's lazy decoding of a damaged TIFF raised TypeError (found by fuzzing)."""
    from gpunn import inspect_commands

    def damaged(img):
        raise TypeError("'float' object cannot be interpreted as an integer")

    monkeypatch.setattr(inspect_commands, "_grey", damaged)
    line = fails(["predict", trained / "net.npz", images / "one.png", "--device", "cpu"], capsys)
    assert "one.png: cannot be read as an image, it looks damaged (TypeError: " in line


@pytest.mark.parametrize("key, value", [("validation_size", [100]), ("train_size", "all")])
def test_evaluate_refuses_a_model_whose_sizes_are_not_counts(
    key, value, tmp_path, data_dir, capsys
):
    net = Network([FullyConnected(10, n_in=784)], input_shape=(784,), device="cpu")
    net.save(tmp_path / "odd.npz", metadata={key: value})
    argv = ["evaluate", tmp_path / "odd.npz", "--data-dir", data_dir, "--device", "cpu"]
    line = fails([*argv, "--split", "train"], capsys)
    assert f"odd.npz: its metadata's {key} is {value!r}, not a count of images" in line
