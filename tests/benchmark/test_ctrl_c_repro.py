"""bench/ctrl_c_repro.py: Ctrl-C at set moments of gpunn's start-up, each run's ending tallied."""

import signal
import sys

import pytest

from tests.bench_scripts import load_bench_script


@pytest.mark.skipif(sys.platform != "linux", reason="named pipes and /proc: Linux")
@pytest.mark.parametrize(
    "extra, ending",
    [
        ([], "130  gpunn: interrupted"),  # once NumPy loads: gpunn's one line, not a hang
        (["--start-ignoring"], "ignored, then SIGTERM: 130  gpunn: interrupted"),
    ],
)
def test_each_run_s_ending_is_tallied(extra, ending, capsys):
    assert signal.getsignal(signal.SIGINT) != signal.SIG_IGN  # (conftest sees to it)
    script = load_bench_script("ctrl_c_repro")
    assert script.main(["--runs", "1", "--delays", "2", "--timeout", "3", *extra]) == 0
    said = capsys.readouterr().out
    assert said.splitlines()[-1] == f"   1  {ending}", said
