"""bench/trace_step.py: a line per window with the step time and the busy threads."""

import importlib.util
import re
import threading
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "trace_step.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("trace_step", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_thread_ticks_lists_this_thread(script):
    ticks = script.thread_ticks()
    assert threading.get_native_id() in ticks
    cpu, used = ticks[threading.get_native_id()]
    assert cpu >= 0 and used >= 0


def test_windows_and_summary(script, capsys):
    argv = ["--preset", "fc30", "--batch-size", "10", "--seconds", "0.6", "--window", "0.2"]
    assert script.main([*argv, "--data", "random"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    windows = [line for line in lines if re.match(r"\s*\d+\.\d s  step", line)]
    assert len(windows) >= 2
    assert re.match(r"fc30 m=10: \d+ steps, median [\d.]+ ms \([\d,]+ img/s\)", lines[-1])
