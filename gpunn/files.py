"""Output files: written atomically, and checked before the work that fills them.

A file a command writes (a model, a checkpoint, a metrics file, a plot, a benchmark record)
goes to a temporary file in the same folder, is flushed to disk and renamed over the
target, so a failure or an interrupt at any point leaves the earlier file whole.
``check_output`` refuses, before any training or measuring, a target that could not be
written or that is one of the command's own inputs.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from gpunn.errors import ConfigError


def new_file_mode() -> int:
    """The mode ``open`` would give a new file under the current umask (mkstemp's is 0600)."""
    try:  # Linux: read it, rather than set and restore it (a race with other threads)
        with open("/proc/self/status") as f:
            umask = next(int(line.split()[1], 8) for line in f if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        umask = os.umask(0)
        os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(path, data: bytes, durable: bool = True) -> None:
    """Write ``data`` to ``path`` via a temporary file and a rename (through a symbolic
    link, to the file it names); ``durable``: fsync the file and the folder too, so that
    the new content also survives a crash of the machine. An OSError (a full disk, a
    folder that cannot be made) names ``path``."""
    path = Path(path)
    try:
        _write_and_rename(path.resolve(), data, durable)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot write {path}: {exc.strerror or exc}") from exc


def _write_and_rename(path: Path, data: bytes, durable: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, new_file_mode())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if not durable:
        return
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def atomic_write_text(path, text: str, durable: bool = True) -> None:
    """``atomic_write_bytes`` of ``text`` in UTF-8."""
    atomic_write_bytes(path, text.encode("utf-8"), durable)


def check_output(path, option: str, *, folder: bool = False, inputs: Iterable = ()) -> Path:
    """``path`` as a Path, or ConfigError naming ``option`` when it cannot take the output.

    A file output (``folder`` false) must not be a folder; a folder output must not be a
    file. The nearest folder that exists on the way to it must be a folder this process
    can create files in (tried with a nameless temporary file: permissions, a read-only
    mount). ``inputs``: paths the command reads, which the output must not be.
    """
    path = Path(path)
    if not folder and path.is_dir():
        raise ConfigError(f"{option} {path}: is a folder; give a file name")
    if folder and path.exists() and not path.is_dir():
        raise ConfigError(f"{option} {path}: is a file, not a folder")
    if not folder and path.exists() and not path.is_file():  # a device, a pipe: no rename
        raise ConfigError(f"{option} {path}: is not a regular file; give a file name")
    check_not_input(path, option, inputs)
    existing = path if folder and path.is_dir() else path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{option} {path}: {existing} is not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise ConfigError(
            f"{option} {path}: cannot write in {existing} ({exc.strerror or exc})"
        ) from None
    return path


def check_not_input(path, option: str, inputs: Iterable) -> None:
    """ConfigError naming ``option`` when ``path`` is one of ``inputs`` (the same file)."""
    for source in inputs:
        if _same_path(Path(path), Path(source)):
            raise ConfigError(f"{option} {path}: is an input of this command; give another name")


def check_distinct(outputs: dict[str, object]) -> None:
    """ConfigError when two options (option → path, None for unset) name the same file."""
    seen: dict[Path, str] = {}
    for option, path in outputs.items():
        if path is None:
            continue
        key = Path(path).resolve()  # through symbolic links
        if key in seen:
            raise ConfigError(
                f"{seen[key]} and {option} {path} name the same file; give each its own"
            )
        seen[key] = f"{option} {path}"


def check_given_once(paths: list, why: str) -> None:
    """ConfigError ("path: given twice; why") when two of ``paths`` name one file."""
    resolved = [Path(p).resolve() for p in paths]  # through symbolic links
    for path, key in zip(paths, resolved, strict=True):
        if resolved.count(key) > 1:
            raise ConfigError(f"{path}: given twice; {why}")


def _same_path(a: Path, b: Path) -> bool:
    """Whether a and b name the same file (the same inode when both exist)."""
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False
