"""gpunn curves: metrics files read back (monitor.read_metrics), plotted, bad input refused."""

import json
import re

import numpy as np
import pytest

from gpunn import plots
from gpunn.cli import main
from gpunn.errors import ConfigError
from gpunn.inspect_commands import _curve_labels
from gpunn.monitor import images_seen, read_metrics
from tests.faults import one_error_line, snapshot


def record(epoch, test, seconds=2.0, rate=500.0, **extra):
    """One epoch's record as Trainer writes it (rate × seconds = images trained)."""
    return {
        "epoch": epoch,
        "eta": 0.1,
        "seconds": seconds,
        "images_per_second": rate,
        "train_cost": None,
        "train_accuracy": None,
        "validation_cost": None,
        "validation_accuracy": extra.get("validation"),
        "test_accuracy": test,
        **{k: v for k, v in extra.items() if k != "validation"},
    }


def write(path, *records, final=True):
    lines = [json.dumps(r) for r in records]
    if final:
        lines.append(json.dumps({"final": True, "epochs": len(records)}))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_epochs_are_read_back_in_order_without_the_summary(tmp_path):
    path = write(tmp_path / "m.jsonl", record(1, 0.9), record(2, 0.95))
    assert [r["test_accuracy"] for r in read_metrics(path)] == [0.9, 0.95]


def test_images_seen_add_up_each_epochs_images():
    """1,000 images in epoch 1, 3,000 in epoch 2 (a 3× larger epoch, as after expansion)."""
    records = [record(1, 0.9, seconds=2.0, rate=500.0), record(2, 0.9, seconds=4.0, rate=750.0)]
    assert images_seen(records) == [1000, 4000]


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json\n", r"line 1: not a gpunn metrics record"),
        ("[" * 100_000 + "]" * 100_000 + "\n", r"line 1: not a gpunn metrics record"),
        ('{"epoch": 1, "seconds": 2}\n[1, 2]\n', r"line 2: not a gpunn metrics record"),
        ('{"epoch": 1, "seconds": null}\n', r"line 1: not a gpunn metrics record"),
        ('{"epoch": 1.5, "seconds": 2}\n', r"line 1: not a gpunn metrics record"),
        ('{"epoch": 1%s, "seconds": 2}\n' % ("0" * 400), r"line 1: not a gpunn metrics"),
        ('{"epoch": 0, "seconds": 2}\n', r"line 1: not a gpunn metrics record"),
        ('{"epoch": 1, "seconds": 1e400}\n', r"line 1: not a gpunn metrics record"),
        ('{"epoch": 1, "seconds": 2, "images_per_second": 1e308}\n', r"line 1: not a gpunn"),
        ('{"epoch": 1, "seconds": 2, "images_per_second": NaN}\n', r"line 1: not a gpunn"),
        ('{"epoch": 1, "seconds": 2, "test_accuracy": "99%"}\n', r"line 1: not a gpunn"),
        ('{"epoch": 1, "seconds": 2, "test_accuracy": 1e308}\n', r"line 1: not a gpunn"),
        ('{"epoch": 1, "seconds": 2, "raw_test_accuracy": -0.1}\n', r"line 1: not a gpunn"),
        ('{"epoch": 1, "seconds": 2, "validation_accuracy": NaN}\n', r"line 1: not a gpunn"),
        ('{"epoch": 1, "seconds": 2, "eta": Infinity}\n', r"line 1: not a gpunn"),
        ('{"epoch": 1, "seconds": 2, "eta": -0.5}\n', r"line 1: not a gpunn"),
        ('{"final": true}\n', r"no epoch records in it \(an ensemble's summary"),
        ("", r"no epoch records in it$"),
    ],
)
def test_a_file_that_is_not_gpunn_metrics_is_refused(tmp_path, text, message):
    path = tmp_path / "m.jsonl"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_metrics(path)


def test_curves_of_two_runs_against_images_seen(tmp_path, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    drawn = {}
    save = plots._save

    def keep(fig, path):  # what was drawn, before the figure is saved and closed
        ax = fig.axes[0]
        drawn["ylim"] = ax.get_ylim()
        drawn.update({line.get_label(): (line.get_xdata(), line.get_ydata()) for line in ax.lines})
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    a = write(tmp_path / "a.jsonl", record(1, 0.98), record(2, 0.99))
    b = write(tmp_path / "b.jsonl", record(1, 0.97, rate=2500.0), final=False)  # still running
    out = tmp_path / "c.png"
    argv = ["curves", a, b, "--x", "images", "--ylim", "96", "100", "--out", out]
    assert main([str(x) for x in argv]) == 0
    assert capsys.readouterr().out == f"wrote {out}\n"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert drawn["ylim"] == (96.0, 100.0)
    np.testing.assert_allclose(drawn["a"][0], [0.001, 0.002])  # millions of images
    np.testing.assert_allclose(drawn["a"][1], [98.0, 99.0])  # accuracy in %
    np.testing.assert_allclose(drawn["b"], [[0.005], [97.0]])


def test_several_accuracies_share_one_plot(tmp_path, monkeypatch):
    """An --ema run's average and trained weights, each a line named 'run: key'."""
    pytest.importorskip("matplotlib")
    drawn = {}
    save = plots._save

    def keep(fig, path):
        drawn.update({line.get_label(): line.get_ydata() for line in fig.axes[0].lines})
        drawn["ylabel"] = fig.axes[0].get_ylabel()
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    a = write(
        tmp_path / "a.jsonl",
        record(1, 0.98, raw_test_accuracy=0.97),
        record(2, 0.99, raw_test_accuracy=0.985),
    )
    b = write(tmp_path / "b.jsonl", record(1, 0.96))  # a run without an average
    keys = ["--key", "test_accuracy", "--key", "raw_test_accuracy"]
    argv = ["curves", *keys, a, b, "--out", tmp_path / "c.png"]
    assert main([str(x) for x in argv]) == 0
    np.testing.assert_allclose(drawn["a: test accuracy"], [98.0, 99.0])
    np.testing.assert_allclose(drawn["a: raw test accuracy"], [97.0, 98.5])
    np.testing.assert_allclose(drawn["b: test accuracy"], [96.0])
    assert "b: raw test accuracy" not in drawn
    assert drawn["ylabel"] == "accuracy (%)"


def test_labels_are_file_names_unless_they_clash():
    paths = ["d1/a.jsonl", "d2/a.jsonl", "e/ens.jsonl.member0", "b.jsonl"]
    assert _curve_labels(paths) == ["d1/a.jsonl", "d2/a.jsonl", "ens member0", "b"]
    with pytest.raises(ConfigError, match="given twice"):
        _curve_labels(["a.jsonl", "./a.jsonl"])


def test_curves_refuse_bad_input_with_one_line_and_write_nothing(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    good = write(tmp_path / "a.jsonl", record(1, 0.98))
    good2 = write(tmp_path / "a2.jsonl", record(1, 0.97))
    bad = tmp_path / "bad.jsonl"
    bad.write_text("epoch 1 test 98%\n")
    out = ["--out", tmp_path / "c.png"]
    for argv, message in (
        ([good, tmp_path / "none.jsonl", *out], r"none\.jsonl: cannot read it"),
        ([good, bad, *out], r"bad\.jsonl, line 1: not a gpunn metrics record"),
        ([good, "--key", "validation_accuracy", *out], "no validation_accuracy in its epochs"),
        ([good, "--key", "test_accuracy", "--key", "raw_test_accuracy", *out], "no raw_test"),
        ([good, good2, "--key", "raw_test_accuracy", *out], "none of the files: no raw_test"),
        ([good, "--key", "test_accuracy", "--key", "eta", *out], "only if all are accuracies"),
        ([good, "--ylim", "99", "98", *out], "LOW under HIGH"),
        ([good, "--ylim", "0", "inf", *out], "two finite numbers"),
        ([good, "--out", tmp_path], "is a folder"),
        ([good, "--out", tmp_path / "c.pdf"], r"give a \.png file name"),
    ):
        before = snapshot(tmp_path)
        assert main(["curves", *(str(x) for x in argv)]) == 2
        assert re.search(message, one_error_line(capsys.readouterr().err))
        assert snapshot(tmp_path) == before


def test_curves_of_a_file_whose_name_is_not_utf8(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    import os

    name = os.fsdecode(b"\xff\xferun.jsonl")  # lone surrogates in Python
    write(tmp_path / name, record(1, 0.98), record(2, 0.985))
    assert _curve_labels([str(tmp_path / name)]) == ["\ufffd\ufffdrun"]
    out = tmp_path / "c.png"
    assert main(["curves", str(tmp_path / name), "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
