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
