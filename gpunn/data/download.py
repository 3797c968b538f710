"""The datasets gpunn knows, their checksums and mirrors, and fetching them.

Checksums are sha256 of the *decompressed* IDX content, so a re-compressed copy
passes as well as the mirrors' own .gz files. MNIST's are those in the
project's data README; Fashion-MNIST's were computed from Debian's
``dataset-fashion-mnist`` and agree with digests published independently of it.

A download goes to a temporary file beside its destination, is checked
(structure and sha256), and only then renamed into place, so an interrupted or
corrupt download never leaves a file that looks complete.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from gpunn.data.idx import decompressed, parse_idx
from gpunn.data.sources import IDX_NAMES
from gpunn.errors import DataError
from gpunn.files import new_file_mode

urlopen = urllib.request.urlopen  # module attribute, so tests can replace it
TIMEOUT_S = 60


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset in IDX form: where to fetch it and the sha256 of each decompressed file."""

    name: str
    mirrors: tuple[str, ...]
    sha256: dict[str, str]
    system_dirs: tuple[str, ...] = ()  # searched after the user's folders, never written


def _by_name(*digests: str) -> dict[str, str]:
    """Pair digests with ``IDX_NAMES`` (train images, train labels, test images, test labels)."""
    return dict(zip(IDX_NAMES, digests, strict=True))


DATASETS = {
    "mnist": DatasetInfo(
        "mnist",
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        sha256=_by_name(
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        ),
    ),
    "fashion-mnist": DatasetInfo(
        "fashion-mnist",
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        sha256=_by_name(
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        ),
        system_dirs=("/usr/share/datasets/fashion-mnist",),  # Debian: dataset-fashion-mnist
    ),
}


def idx_kind(name: str) -> str:
    """'images' or 'labels', from an IDX file name such as ``t10k-labels-idx1-ubyte``."""
    return "images" if "-images-" in name else "labels"


def whose_checksum(digest: str) -> str | None:
    """The 'dataset/file' a sha256 belongs to, if it is a known one."""
    for info in DATASETS.values():
        for name, known in info.sha256.items():
            if known == digest:
                return f"{info.name}/{name}"
    return None


def mismatch_message(where: object, name: str, info: DatasetInfo, digest: str) -> str:
    """Say that ``where`` (IDX file ``name``) is not ``info``'s, and whose it is if known."""
    other = whose_checksum(digest)
    why = f"it is {other}" if other else "the file is corrupt or a different dataset"
    return (
        f"{where}: sha256 of the content is {digest}, not {info.name}'s {name} "
        f"({info.sha256[name]}): {why}"
    )


def fetch(info: DatasetInfo, name: str, directory: Path) -> Path:
    """Download IDX file ``name`` (without .gz) of ``info`` into ``directory``; return its path.

    Mirrors are tried in order. Raises DataError on a checksum mismatch (the file is
    not kept) and ``OSError`` when no mirror can be reached or ``directory`` is not writable.
    """
    destination = directory / f"{name}.gz"
    bad: list[str] = []  # mirrors that answered with a wrong file
    unreachable: list[str] = []
    for mirror in info.mirrors:
        url = f"{mirror}{name}.gz"
        print(f"gpunn: downloading {url}", file=sys.stderr)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=directory)
        tmp = Path(tmp_name)
        try:
            os.fchmod(fd, new_file_mode())  # a shared data folder stays readable to others
            with os.fdopen(fd, "wb") as out, urlopen(url, timeout=TIMEOUT_S) as response:
                shutil.copyfileobj(response, out)
            data = decompressed(tmp.read_bytes(), url)  # errors name the URL, not tmp
            parse_idx(data, idx_kind(name), url)
            digest = hashlib.sha256(data).hexdigest()
            if digest != info.sha256[name]:
                raise DataError(mismatch_message(url, name, info, digest))
            os.replace(tmp, destination)
            return destination
        except DataError as exc:  # before OSError: DataError is one
            bad.append(str(exc))
        except (OSError, ValueError) as exc:  # URLError, HTTPError, timeouts, bad URLs
            unreachable.append(f"{url}: {getattr(exc, 'reason', None) or exc}")
        finally:
            tmp.unlink(missing_ok=True)
    if bad:
        raise DataError(f"{destination}: no mirror gave a valid file: " + "; ".join(bad))
    raise OSError("; ".join(unreachable))


def missing_message(info: DatasetInfo, missing: list[str], directory: Path, why: str) -> str:
    """The error text for files that are neither here nor downloadable: what, where, and how."""
    alternatives = " (or mnist.pkl.gz, or mnist.npz)" if info.name == "mnist" else ""
    return (
        f"{info.name}: missing {', '.join(f'{m}.gz' for m in missing)} in {directory} "
        f"({why}). Put the four IDX files (gzip or raw){alternatives} in {directory}, "
        f"or in a folder given by --data-dir or the GPUNN_DATA environment variable "
        f"(directly, or in a '{info.name}/' subfolder of it). Mirrors: {', '.join(info.mirrors)}"
    )


def download_missing(info: DatasetInfo, directory: Path, missing: list[str]) -> None:
    """Fetch each IDX file in ``missing`` into ``directory``; DataError if any cannot be had.

    Folders made for the download that are still empty when it fails are removed again."""
    made = [d for d in (directory, *directory.parents) if not d.exists()]  # deepest first
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _remove_empty(made)
        raise DataError(missing_message(info, missing, directory, f"cannot create: {exc}")) from exc
    try:
        for i, name in enumerate(missing):
            try:
                fetch(info, name, directory)
            except DataError:
                raise
            except OSError as exc:  # unreachable mirrors, or the folder is not writable
                why = f"cannot download: {exc}"
                raise DataError(missing_message(info, missing[i:], directory, why)) from exc
    except BaseException:
        _remove_empty(made)
        raise


def _remove_empty(folders: list[Path]) -> None:
    """rmdir each of ``folders`` (deepest first) while they are empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return
