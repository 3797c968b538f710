"""bench/trace_step.py: a line per window with the step time and the busy threads."""

import re
import threading

import pytest

from tests.bench_scripts import load_bench_script


@pytest.fixture(scope="module")
def script():
    return load_bench_script("trace_step")


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
