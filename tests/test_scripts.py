"""The chapter scripts run end to end (one epoch, small generated data) and write their results."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults import TIMEOUT_S, env, write_pkl_dataset

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
    assert not list(tmp_path.glob("*.partial.*"))  # the complete record replaced them


def test_a_ladder_ending_on_a_fully_connected_net_leaves_no_earlier_filters(data_dir, tmp_path):
    (tmp_path / "filters.png").write_bytes(b"an earlier run's conv1 filters")
    run_script("chapter6.py", tmp_path, data_dir, "--only", "shallow", "--ensemble", "0")
    assert not (tmp_path / "filters.png").exists()
    assert (tmp_path / "misclassified.png").read_bytes()[:4] == b"\x89PNG"


def test_chapter6_s_ensemble_is_recorded_as_the_members_vote(data_dir, tmp_path):
    out = run_script("chapter6.py", tmp_path, data_dir, "--only", "final", "--ensemble", "2")
    runs = json.loads((tmp_path / "results.json").read_text())["runs"]
    assert list(runs) == ["final", "final (seed 1)", "ensemble2"]
    ensemble = runs["ensemble2"]
    assert ensemble["members"] == ["final", "final (seed 1)"] and ensemble["book"] is None
    assert ensemble["summary"]["test_accuracy_at_best_validation"] == ensemble["ensemble"]["vote"]
    members = runs["final"]["wall_seconds"] + runs["final (seed 1)"]["wall_seconds"]
    assert ensemble["wall_seconds"] > members
    assert "ensemble2" in out


def test_chapter5_trains_as_the_book_and_records_the_commit(data_dir, tmp_path):
    run_script("chapter5.py", tmp_path, data_dir, "--epochs", "1")  # (run_script's 1 epoch)
    record = json.loads((tmp_path / "gradients.json").read_text())
    assert record["settings"]["mini_batch_size"] == 1000 and record["settings"]["lmbda"] == 5.0
    assert record["commit"] and len(record["runs"]) == 9


def script(name, *args, cwd):
    """Run scripts/NAME ARGS in ``cwd``, as a user would: the CompletedProcess (text)."""
    argv = [sys.executable, str(SCRIPTS / name), *map(str, args)]
    return subprocess.run(
        argv, cwd=cwd, env=env(cwd), capture_output=True, text=True, timeout=4 * TIMEOUT_S
    )


@pytest.mark.parametrize(
    "args, words",
    [
        (["--epochs", "0"], "argument --epochs: must be a positive integer"),
        (["--seed", "-1"], "argument --seed: must be a non-negative integer"),
        (["--data-dir", "nowhere"], "chapter1: error: mnist: missing"),
    ],
)
def test_bad_input_is_one_line_and_leaves_the_last_record_whole(args, words, tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    (out / "results.json").write_text('{"runs": "the last complete run"}')
    (out / "results.partial.json").write_text("an interrupted run's")
    done = script("chapter1.py", "--device", "cpu", "--out", out, *args, cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert words in done.stderr.strip().splitlines()[-1]
    assert {p.name for p in tmp_path.iterdir()} <= {"cache", "results"}
    assert sorted(p.name for p in out.iterdir()) == ["results.json", "results.partial.json"]
    assert (out / "results.json").read_text() == '{"runs": "the last complete run"}'


def test_an_output_that_cannot_be_a_folder_is_refused_before_any_training(data_dir, tmp_path):
    (tmp_path / "afile").write_text("x")
    done = script("chapter1.py", "--device", "cpu", "--data-dir", data_dir, "--out", "afile",
                  cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""  # no epoch line: nothing trained
    assert done.stderr.strip() == "chapter1: error: --out afile: is a file, not a folder"


def test_the_end_of_a_script_waits_for_its_record_before_a_signal(tmp_path, monkeypatch):
    """SIGINT inside ``completing``: the plots, results.json and run.log are written whole
    first, and the script is told it ended complete."""
    import argparse
    import signal
    import threading

    monkeypatch.syspath_prepend(str(SCRIPTS))
    import common

    args = argparse.Namespace(out=str(tmp_path), epochs=1, device="cpu")
    results = common.Results("chapterX", args)
    results.runs["a run"] = {"summary": {}, "history": [], "wall_seconds": 1.0}
    results.save()
    assert sorted(p.name for p in tmp_path.iterdir()) == list(common.Results.PARTIAL)
    bystander, done = threading.Thread(target=threading.Event().wait, args=(5,)), False
    bystander.start()  # a thread of the process that does not block signals (as OpenBLAS's)
    with pytest.raises(KeyboardInterrupt, match="SIGINT received"), results.completing():
        signal.pthread_kill(bystander.ident, signal.SIGINT)  # Python runs the handler in main
        for _ in range(1000):  # bytecodes enough for the handler to have run
            done = not done
        results.say("the last line")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json", "run.log"]
    assert json.loads((tmp_path / "results.json").read_text())["runs"] == results.runs
    assert "the last line\nresults in" in (tmp_path / "run.log").read_text()
    assert common.Results.where_things_are().startswith("after the complete record was written")


@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM"])
def test_a_signal_stops_a_script_with_one_line_and_keeps_the_last_record(stop, data_dir, tmp_path):
    import signal

    out = tmp_path / "results"
    out.mkdir()
    (out / "results.json").write_text('{"runs": "the last complete run"}')
    argv = [sys.executable, str(SCRIPTS / "chapter1.py"), "--device", "cpu", "--epochs", "200"]
    argv += ["--data-dir", str(data_dir), "--out", str(out)]
    proc = subprocess.Popen(
        argv, cwd=tmp_path, env=env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert proc.stdout.readline().startswith("[")  # the first epoch line of the first run
    proc.send_signal(getattr(signal, stop))
    _, err = proc.communicate(timeout=TIMEOUT_S)
    assert proc.returncode == 130, err
    line = err.strip().splitlines()[-1]
    assert "Traceback" not in err and line.startswith(f"chapter1: stopped: {stop} received")
    assert line.endswith("the last complete record is as it was")  # no run had finished
    assert (out / "results.json").read_text() == '{"runs": "the last complete run"}'
    assert not (tmp_path / "gpunn-checkpoints").exists()  # the scripts do not resume


@pytest.mark.parametrize("made_of_it", ["KeyboardInterrupt", "ImportError"])
def test_a_signal_while_a_script_starts_is_one_line(made_of_it, tmp_path):
    """Before NumPy and gpunn have loaded; NumPy turns a Ctrl-C in its import into an
    ImportError, so the line is said for whatever the interrupt became."""
    code = (
        f"import sys; sys.argv = ['chapter1.py']; sys.path.insert(0, {str(SCRIPTS)!r})\n"
        "import os, signal, starting\n"
        "try:\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    for _ in range(10**6): pass\n"
        "except KeyboardInterrupt:\n"
        f"    raise {made_of_it}('a library loading')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT_S
    )
    assert done.returncode == 130
    assert done.stderr == "chapter1: stopped while starting; nothing was written\n"
