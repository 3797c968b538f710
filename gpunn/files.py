"""Output files: written atomically, and checked before the work that fills them.

A file a command writes (a model, a checkpoint, a metrics file, a plot, a benchmark record)
goes to a temporary file in the same folder, is flushed to disk and renamed over the
target, so a failure or an interrupt at any point leaves the earlier file whole.
``check_output`` refuses, before any training or measuring, a target that could not be
written or that is one of the command's own inputs.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from gpunn.errors import ConfigError

TEMPORARY_SUFFIX = ".tmp"
# what the temporary file adds to a name: "." before, "." and mkstemp's 8 characters after
TEMPORARY_EXTRA = 2 + 8 + len(TEMPORARY_SUFFIX)


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
        _write_and_rename(resolved(path), data, durable)
    except ConfigError as exc:  # a loop of symbolic links
        raise OSError(errno.ELOOP, f"cannot write {exc}") from None
    except OSError as exc:
        raise OSError(exc.errno, f"cannot write {path}: {exc.strerror or exc}") from exc


def _write_and_rename(path: Path, data: bytes, durable: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # a file written over keeps its mode, as open(path, "wb") would keep it
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = new_file_mode()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX, dir=path.parent)
    try:
        os.fchmod(fd, mode)
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
    # the file written is the one a symbolic link names (and resolving finds a loop)
    check_name_lengths(resolved(path, option), option, folder)
    if not folder and path.is_dir():
        raise ConfigError(f"{option} {path}: is a folder; give a file name")
    if folder and path.exists() and not path.is_dir():
        raise ConfigError(f"{option} {path}: is a file, not a folder")
    if not folder and path.exists() and not path.is_file():  # a device, a pipe: no rename
        raise ConfigError(f"{option} {path}: is not a regular file; give a file name")
    check_not_input(path, option, inputs)
    existing = nearest_folder(path if folder else path.parent)
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


def check_name_lengths(path: Path, option: str, folder: bool) -> None:
    """ConfigError when a name on the way to ``path`` is longer than its file system takes,
    counting, for a file, the TEMPORARY_EXTRA bytes its temporary file adds."""
    existing = nearest_folder(path.parent)
    try:
        name_max = os.pathconf(existing, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # not POSIX, or not told
        name_max = 255
    for part in path.parts[len(existing.parts) :]:
        extra = TEMPORARY_EXTRA if part == path.name and not folder else 0
        if len(os.fsencode(part)) + extra > name_max:
            room = f"; at most {name_max - extra} bytes here" if extra else ""
            raise ConfigError(f"{option} {path}: the name {part[:40]}… is too long{room}")


def nearest_folder(path: Path) -> Path:
    """``path`` if it exists, else the nearest of its parents that does (not necessarily
    a folder, or no longer reachable: a name too long)."""
    while not _exists(path) and path != path.parent:
        path = path.parent
    return path


def _exists(path: Path) -> bool:
    """``path.exists()``, False too where stat fails (a name too long for its file system)."""
    try:
        return path.exists()
    except OSError:
        return False


def resolved(path, option: str | None = None) -> Path:
    """``Path(path).resolve()`` (through symbolic links), or ConfigError (naming ``option``)
    for a loop of them: Python 3.11 raises RuntimeError there, 3.13 OSError."""
    try:
        return Path(path).resolve()
    except RuntimeError:  # Python 3.11 and 3.12: "Symlink loop from …"
        why = "a loop of symbolic links"
    except OSError as exc:  # 3.13: ELOOP, and what else stat may say
        why = "a loop of symbolic links" if exc.errno == errno.ELOOP else exc.strerror or str(exc)
    raise ConfigError(f"{f'{option} {path}' if option else path}: {why}") from None


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
        key = resolved(path, option)  # through symbolic links
        if key in seen:
            raise ConfigError(
                f"{seen[key]} and {option} {path} name the same file; give each its own"
            )
        seen[key] = f"{option} {path}"


def check_given_once(paths: list, why: str) -> None:
    """ConfigError ("path: given twice; why") when two of ``paths`` name one file."""
    keys = [resolved(p) for p in paths]  # through symbolic links
    for path, key in zip(paths, keys, strict=True):
        if keys.count(key) > 1:
            raise ConfigError(f"{path}: given twice; {why}")


def _same_path(a: Path, b: Path) -> bool:
    """Whether a and b name the same file (the same inode when both exist)."""
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False
