"""gpunn.provenance: the commit of gpunn's own checkout, as results files name it."""

import subprocess

from gpunn.provenance import commit_words, git_commit


def test_the_commit_is_gpunns_own_checkouts_only(tmp_path):
    """gpunn copied into another git project (an ignored .venv): no commit of that one."""
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "other.txt").write_text("another project")
    subprocess.run([*git, "add", "other.txt"], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    assert git_commit(tmp_path)["commit"] is None
    (tmp_path / "gpunn").mkdir()
    (tmp_path / "gpunn" / "__init__.py").write_text("")
    subprocess.run([*git, "add", "gpunn"], check=True)
    subprocess.run([*git, "commit", "-qm", "y"], check=True)
    assert len(git_commit(tmp_path)["commit"]) == 40
    assert commit_words(git_commit(tmp_path)) == git_commit(tmp_path)["commit"][:7]
    (tmp_path / "gpunn" / "values.py").write_text("changed = True\n")
    assert commit_words(git_commit(tmp_path)).endswith("-dirty")
    assert commit_words({"commit": None}) == "unknown"
