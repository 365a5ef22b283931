"""Atomic outputs: every command writes through here, so no run leaves a partial result.

A file is written to a temporary file in the same folder and renamed over its final name
(:func:`atomic_file`); a results folder is assembled aside and swapped in whole
(:func:`atomic_folder`). A run killed, or out of disk, at any point leaves the previous
output (or nothing) under the final name, never a truncated file, and concurrent runs into
one folder never mix: the last run to finish wins, whole. Targets are checked before any
work where that can be known (:func:`check_target`): a missing parent is created, a
read-only folder, a file where a folder is wanted (or the reverse) and a path under a file
are refused with an :class:`~securindex.errors.OutputError`.

An existing folder is swapped whole only when it holds nothing but names the new output
also has (an earlier run of the same command); into any other folder the files are moved
one by one (each still atomic) and the folder's other files are kept.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from securindex.errors import OutputError

__all__ = ["atomic_file", "atomic_folder", "check_target"]


def check_target(path: str | Path, *, kind: Literal["file", "folder"]) -> Path:
    """Refuse an output target that cannot work, before any work is done.

    Returns
    -------
    Path
        ``path`` as a Path.

    Raises
    ------
    OutputError
        The target exists as the other kind, lies under a file, or its nearest existing
        folder is not writable.
    """
    path = Path(path)
    where = str(path)
    if path.exists():
        if kind == "file" and path.is_dir():
            raise OutputError("is a folder; give a file name", path=where)
        if kind == "folder" and not path.is_dir():
            raise OutputError("is a file; give a folder", path=where)
    existing = path.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"cannot be written under {existing}, which is a file", path=where)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"the folder {existing} is not writable", path=where)
    return path


def _existing_folder(path: Path) -> Path:
    """The nearest existing folder at or above ``path.parent``: where a temporary output is
    made (on the same file system as the target, since no mount point can be missing)."""
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    return folder


def _failed(exc: OSError, path: Path) -> OutputError:
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        reason = "no space left on the device"
    return OutputError(
        f"cannot write ({reason}); nothing was written under this name", path=str(path)
    )


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``.

    The temporary name keeps ``path``'s suffixes, so writers that choose a format by
    suffix (``.csv``, ``.parquet``, ``.csv.gz``) behave the same. On any error the
    temporary file is removed and ``path`` is untouched; an ``OSError`` becomes an
    :class:`OutputError`.
    """
    path = check_target(path, kind="file")
    try:
        fd, name = tempfile.mkstemp(
            dir=_existing_folder(path),
            prefix=f".{path.name.split('.')[0]}-",
            suffix="".join(path.suffixes),
        )
        os.close(fd)
    except OSError as exc:
        raise _failed(exc, path) from exc
    tmp = Path(name)
    try:
        yield tmp
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _failed(exc, path) from exc
        raise


@contextlib.contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
    """Yield a fresh folder beside ``path``; on success swap it in as ``path``, whole.

    Raises
    ------
    OutputError
        When the target cannot be written (checked first) or writing fails; the folder
        being assembled is removed and ``path`` keeps its previous content.
    """
    path = check_target(path, kind="folder")
    try:
        tmp = Path(tempfile.mkdtemp(dir=_existing_folder(path), prefix=f".{path.name}.partial-"))
    except OSError as exc:
        raise _failed(exc, path) from exc
    try:
        yield tmp
        path.parent.mkdir(parents=True, exist_ok=True)
        _swap_in(tmp, path)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):
            raise _failed(exc, path) from exc
        raise


def _replaceable(path: Path, new: Path) -> bool:
    """True when every entry of ``path`` also is in ``new``: an earlier output of the same
    kind, which the new one replaces whole."""
    return {p.name for p in path.iterdir()} <= {p.name for p in new.iterdir()}


def _swap_in(tmp: Path, path: Path) -> None:
    """Rename ``tmp`` to ``path``; a previous securindex output there is moved aside first
    (and deleted), so the last run to finish wins whole."""
    if path.is_dir() and not _replaceable(path, tmp):
        for item in tmp.iterdir():
            if item.is_dir() and (path / item.name).is_dir():
                shutil.rmtree(path / item.name)
            os.replace(item, path / item.name)
        shutil.rmtree(tmp, ignore_errors=True)
        return
    trash: list[Path] = []
    try:
        for _ in range(100):
            try:
                os.rename(tmp, path)
                return
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.EISDIR):
                    raise
            old = path.with_name(f".{path.name}.old-{uuid.uuid4().hex[:8]}")
            with contextlib.suppress(FileNotFoundError):  # another run moved it first
                os.rename(path, old)
                trash.append(old)
        raise OSError(errno.EBUSY, "too many concurrent runs replacing this folder")
    finally:
        for old in trash:
            shutil.rmtree(old, ignore_errors=True)
