"""Writes that a crash cannot leave half done: a file or a whole folder appears complete, or not at all.

Files: written to a temporary file beside the target, fsynced, renamed over it.
Folders (``atomic_folder``): a complete new folder is written beside the target and swapped in with
Linux ``renameat2(RENAME_EXCHANGE)``; where the file system cannot exchange, two
renames, and a crash between them leaves the old folder at ``.<name>.old``, which
``recover_interrupted_replace`` puts back.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

__all__ = ["atomic_write", "atomic_folder", "temp_folder_beside", "replace_folder", "recover_interrupted_replace",
           "fsync", "work_folder"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temp_folder_beside(target: Path) -> Path:
    """A new empty folder next to ``target`` (same file system, so it can be renamed into place),
    with the permissions a plain ``mkdir`` would give, not ``mkdtemp``'s owner-only 0700."""
    target.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    folder.chmod(0o777 & ~_umask())
    return folder


@contextmanager
def atomic_write(path: str | os.PathLike, newline: str | None = None, binary: bool = False) -> Iterator:
    """Open a temporary file beside ``path`` and rename it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.chmod(tmp, 0o666 & ~_umask())  # as open() would create it, not mkstemp's owner-only 0600
    try:
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline=newline)) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync(path.parent)


@contextmanager
def atomic_folder(target: str | os.PathLike) -> Iterator[Path]:
    """A new empty folder beside ``target`` for the block to fill; once the block succeeds, everything in it
    is flushed to the disk and the folder swapped into place at ``target``; if the block fails, it is removed."""
    target = Path(target)
    tmp = temp_folder_beside(target)
    try:
        yield tmp
        for path in sorted(tmp.rglob("*"), reverse=True):  # files before the folders that list them
            fsync(path)
        replace_folder(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def fsync(path: Path) -> None:
    """Flush a file (or, given a folder, the folder's entries) to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: the file system cannot exchange
        return False
    raise OSError(errno, os.strerror(errno), str(b))


def replace_folder(new: Path, target: Path) -> None:
    """Put the complete folder ``new`` at ``target`` atomically; the old one (if any) is removed afterwards."""
    if not target.exists():
        os.rename(new, target)
    elif _exchange(new, target):
        shutil.rmtree(new)  # now holds the old index
    else:  # two renames; a crash in between leaves the old index under .<name>.old, which load finds
        old = _old_path(target)
        shutil.rmtree(old, ignore_errors=True)
        os.rename(target, old)
        os.rename(new, target)
        shutil.rmtree(old)
    fsync(target.parent)


def _old_path(target: Path) -> Path:
    return target.parent / f".{target.name}.old"


def recover_interrupted_replace(target: Path) -> None:
    """Where a two-rename swap died between its renames, put the old, complete index back."""
    old = _old_path(target)
    if not target.exists() and old.is_dir():
        os.rename(old, target)


def work_folder(output: str | os.PathLike, kind: str) -> Path:
    """Where a long job that ends by writing ``output`` keeps what lets it resume: ``.<name>.<kind>`` beside it
    (same file system, hidden, and named for the output it belongs to)."""
    output = Path(output)
    return output.parent / f".{output.name}.{kind}"
