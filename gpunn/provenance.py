"""Where a result came from: the commit of the gpunn checkout that ran, and a digest of
its sources (for a tree that differs from the commit)."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path


def source_digest() -> str:
    """sha256 of every .py file of the gpunn package that ran (paths and contents)."""
    root = Path(__file__).resolve().parent  # the gpunn package
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def git_commit(root: Path | None = None) -> dict | None:
    """The commit of the gpunn checkout (``root``: the folder that holds this package), the
    package files that differ from it (changed or untracked), and ``source_digest``: with a
    dirty tree, only the digest names the code that was measured. No commit when gpunn
    is not a tracked part of the git project around it (copied into another's .venv)."""
    root = root or Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        git("ls-files", "--error-unmatch", "--", "gpunn/__init__.py")  # gpunn's own checkout,
        head = git("rev-parse", "HEAD")  # not a project it was copied into
        changed = git("status", "--porcelain", "--", "gpunn").splitlines()
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "source_digest": source_digest()}
    return {
        "commit": head,
        "dirty": bool(changed),
        "changed": [line.strip() for line in changed],
        "source_digest": source_digest(),
        "root": str(root),
    }


def commit_words(info: dict | None = None) -> str:
    """``git_commit``'s commit as results files name it: the short hash, with "-dirty"
    when gpunn's files differ from it; "unknown" outside a gpunn checkout."""
    info = git_commit() if info is None else info
    if not info.get("commit"):
        return "unknown"
    return info["commit"][:7] + ("-dirty" if info.get("dirty") else "")
