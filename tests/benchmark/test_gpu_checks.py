"""bench/gpu_checks.sh: every stage it documents has a branch, and an unknown one is refused.

The script itself needs a GPU; these checks read it and run only its argument handling.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "gpu_checks.sh"


def stages_documented() -> list[str]:
    """The stage names in the header's list (lines '#   NAME  what it does')."""
    header = SCRIPT.read_text().split("# Stages:")[1].split("# Training stages")[0]
    return re.findall(r"^#   ([a-z0-9-]+)\s", header, flags=re.MULTILINE)


def test_every_documented_stage_has_a_branch_and_is_listed():
    text = SCRIPT.read_text()
    branches = re.findall(r"^    ([a-z0-9-]+)\)", text, flags=re.MULTILINE)
    listed = re.search(r'^STAGES="([^"]*)"', text, flags=re.MULTILINE).group(1).split()
    documented = stages_documented()
    assert "probe" in documented and "final-fast" in documented
    assert sorted(documented) == sorted(branches) == sorted(listed)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_an_unknown_stage_is_refused_with_the_list(tmp_path):
    done = subprocess.run(
        ["bash", str(SCRIPT), "env", "no-such-stage"],
        capture_output=True,
        text=True,
        env={"OUT": str(tmp_path / "out"), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "unknown stage no-such-stage (env tests" in done.stderr
    assert not (tmp_path / "out" / "env.log").exists()  # checked before any stage ran


def run_script(tmp_path, *stages, **env):
    """The script with a stand-in ``python`` that sleeps 30 s (no GPU, nothing trained)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "python"
    fake.write_text("#!/bin/sh\nexec sleep 30\n")
    fake.chmod(0o755)
    out = tmp_path / "out"
    env = {"OUT": str(out), "PATH": f"{bin_dir}:/usr/bin:/bin", **env}
    done = subprocess.run(
        ["bash", str(SCRIPT), *stages], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    return done, out


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_a_hanging_focus_stage_is_cut_at_its_cap(tmp_path):
    done, out = run_script(tmp_path, "focus", FOCUS_CAP="1")
    log = (out / "focus.log").read_text()
    assert "== focus: exit 124 after" in log  # timeout's status: cut, not finished
    assert int(re.search(r"after (\d+) s", log).group(1)) < 20


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_a_training_stage_with_too_little_budget_is_skipped(tmp_path):
    """BUDGET 100 leaves 100 − 20 − 30 = 50 s to train, under MIN_TRAIN's 60: no start
    that would be killed before its first epoch."""
    done, out = run_script(tmp_path, "final-fast", BUDGET="100")
    skipped = re.search(
        r"train-final-fast: skipped, (\d+)s left to train \(MIN_TRAIN=60\)", done.stdout
    )
    assert skipped and int(skipped.group(1)) <= 50
    assert "python" not in done.stdout  # the command never ran


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("setting", [("FOCUS_CAP", "0"), ("BUDGET", "10m"), ("MIN_TRAIN", "-5")])
def test_a_time_that_is_not_whole_seconds_is_refused(tmp_path, setting):
    """0 would mean no limit to timeout, a negative one an error: refused before any stage."""
    done, out = run_script(tmp_path, "focus", **dict([setting]))
    assert done.returncode == 2
    assert f"{setting[0]}={setting[1]}: give a whole number of seconds above 0" in done.stderr
    assert not out.exists()
