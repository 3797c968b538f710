"""The chapter scripts run end to end (one epoch, small generated data) and write their results."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults import TIMEOUT_S, write_pkl_dataset

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
pytest.importorskip("matplotlib", reason="the scripts plot with matplotlib (gpunn[plots])")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_pkl_dataset(tmp_path_factory.mktemp("data"), n_train=1200, n_test=200)


def run_script(name, out, data_dir, *extra):
    argv = [sys.executable, SCRIPTS / name, "--epochs", "1", "--device", "cpu"]
    argv += ["--data-dir", data_dir, "--out", out, *extra]
    done = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=4 * TIMEOUT_S
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.parametrize(
    "script, extra, pictures, runs",
    [
        ("chapter1.py", [], ["test_accuracy.png"], 4),
        ("chapter3.py", [], ["costs.png", "initialisation.png", "overfitting.png"], 8),
        (
            "chapter6.py",
            ["--only", "shallow", "conv1", "--ensemble", "0"],
            ["test_accuracy.png", "filters.png", "misclassified.png"],
            2,
        ),
    ],
)
def test_a_chapter_script_writes_results_plots_and_log(
    script, extra, pictures, runs, data_dir, tmp_path
):
    out = run_script(script, tmp_path, data_dir, *extra)
    record = json.loads((tmp_path / "results.json").read_text())
    assert record["device"] == "cpu" and record["commit"] and record["epochs_override"] == 1
    assert len(record["runs"]) == runs
    for run in record["runs"].values():
        assert len(run["history"]) == 1 and run["wall_seconds"] > 0
    for picture in pictures:
        assert (tmp_path / picture).stat().st_size > 1000
    assert "results in" in out and (tmp_path / "run.log").read_text().endswith(out[-200:])
