"""bench/run.py: ``gpunn bench`` with its errors, writing into bench/results by default."""

import json
import subprocess
import sys

import pytest

from tests.bench_scripts import BENCH, load_bench_script

SCRIPT = BENCH / "run.py"
TINY = ["--device", "cpu", "--presets", "fc30", "--batch-sizes", "4", "--modes", "infer"]
TINY += ["--peers", "none", "--repeats", "1", "--seconds", "0.001", "--warmup-steps", "1"]
TINY += ["--data", "random", "--max-load", "-1", "--gap", "0"]


@pytest.fixture(scope="module")
def script():
    return load_bench_script("run")


def test_the_record_goes_to_bench_results_unless_an_output_is_named(script):
    results = ["--results-dir", str(script.RESULTS)]
    assert script.gpunn_argv(["--device", "cpu"]) == ["bench", "--device", "cpu", *results]
    assert script.gpunn_argv(["--json", "a.json"]) == ["bench", "--json", "a.json"]
    assert script.gpunn_argv(["--results-dir", "x"]) == ["bench", "--results-dir", "x"]


def test_a_run_writes_a_named_record(script, tmp_path, capsys):
    assert script.main([*TINY, "--results-dir", str(tmp_path)]) == 0
    (path,) = tmp_path.iterdir()
    assert path.name.endswith(".json") and "-cpu-" in path.name
    assert json.loads(path.read_text())["complete"] is True
    assert script.main([*TINY, "--results-dir", str(tmp_path)]) == 0
    assert len(list(tmp_path.iterdir())) == 2  # never over the first


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--device", "cpu", "--presets", "nosuch", "--no-kernels"], "unknown preset 'nosuch'"),
        (["--data", "mnist", "--data-dir", "/nonexistent/gpunn-data"], "gpunn: error: mnist"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, words, tmp_path):
    run = subprocess.run(
        [sys.executable, str(SCRIPT), *argv, "--results-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2, run.stderr
    assert words in run.stderr and "Traceback" not in run.stderr
    assert list(tmp_path.iterdir()) == []
