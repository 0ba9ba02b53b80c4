"""Writes that a crash cannot leave half done: a file or a whole folder appears complete, or not at all.

Files: written to a temporary file beside the target, fsynced, renamed over it.
Folders (``atomic_folder``): a complete new folder is written beside the target and swapped in with
Linux ``renameat2(RENAME_EXCHANGE)``; where the file system cannot exchange, two
renames, and a crash between them leaves the old folder at ``.<name>.old``, which
``recover_interrupted_replace`` puts back. A new version of a folder keeps the old one's
permissions, and may carry the old one's other entries across. A writer killed mid-way
leaves ``.<name>.tmp-*`` behind, which ``remove_leftovers`` clears (under the writer's lock).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from .errors import InputError

__all__ = ["atomic_write", "atomic_folder", "temp_folder_beside", "replace_folder", "recover_interrupted_replace",
           "remove_leftovers", "old_folder", "fsync", "work_folder", "check_output_file", "check_output_folder"]


def _check_writable(path: Path, folder: bool) -> None:
    """Refuse ``path`` when it could not be written: a file where a folder goes (or the reverse), a name too
    long, or a nearest existing ancestor that is not a folder this process may write in (the folders missing
    between them are created when it is written)."""
    try:
        if path.is_dir() and not folder:
            raise InputError("is a folder: give the path of a file to write", path)
        if path.exists() and not path.is_dir() and folder:
            raise InputError("is a file: give the path of a folder to write", path)
        parent = path.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir():
            raise InputError(f"cannot be written: {parent} is not a folder", path)
    except OSError as e:  # a name too long, a loop of links...
        raise InputError(f"cannot be written: {e.strerror}", path) from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"cannot be written: no permission to write in {parent}", path)


def check_output_file(path: str | os.PathLike) -> Path:
    """The file ``path``, refused at once (before the work that writes it) when it could not be written: a folder,
    a path under a file, or in a folder this process may not write to."""
    path = Path(path)
    _check_writable(path, folder=False)
    return path


def check_output_folder(path: str | os.PathLike, *, replaced: bool = True) -> Path:
    """The folder ``path``, refused at once (before the work that writes it) when it could not be written: a file,
    a path under a file, or, when it is ``replaced`` whole (:func:`atomic_folder`), the current folder or one
    holding it (the process would be left in a folder that no longer exists)."""
    path = Path(path)
    try:
        here = Path.cwd().resolve() if replaced else None
    except OSError:  # the current folder is gone: no target can be it
        here = None
    resolved = path.resolve()
    if here is not None and (resolved == here or resolved in here.parents):
        raise InputError("is the current folder, or holds it: a new folder is written beside it and swapped in, "
                         "so give a folder elsewhere", path)
    _check_writable(path, folder=True)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _temp_prefix(target: Path) -> str:
    return f".{target.name}.tmp-"


def temp_folder_beside(target: Path) -> Path:
    """A new empty folder next to ``target`` (same file system, so it can be renamed into place),
    with the permissions a plain ``mkdir`` would give, not ``mkdtemp``'s owner-only 0700."""
    target.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=_temp_prefix(target), dir=target.parent))
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
def atomic_folder(target: str | os.PathLike, carry: Callable[[str], bool] | None = None) -> Iterator[Path]:
    """A new empty folder beside ``target`` for the block to fill; once the block succeeds, everything in it
    is flushed to the disk and the folder swapped into place at ``target``; if the block fails, it is removed.

    Replacing a folder keeps its permissions: the new folder and every entry the old one also had get the old
    modes, and new entries no more access than the old folder grants. Entries of the old folder that the block
    did not write and ``carry(name)`` accepts are carried across (hard links, so nothing is copied).
    """
    target = check_output_folder(target)
    tmp = temp_folder_beside(target)
    try:
        yield tmp
        if target.is_dir():
            if carry is not None:
                _carry_across(target, tmp, carry)
            _keep_modes(target, tmp)
        for path in sorted(tmp.rglob("*"), reverse=True):  # files before the folders that list them
            if not path.is_symlink():
                fsync(path)
        replace_folder(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _carry_across(old: Path, new: Path, carry: Callable[[str], bool]) -> None:
    """Link every entry of ``old`` that ``new`` lacks and ``carry`` accepts into ``new`` (folders as new folders
    of links); a copy where the file system has no hard links."""
    for entry in old.iterdir():
        if (new / entry.name).exists() or (new / entry.name).is_symlink() or not carry(entry.name):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, new / entry.name, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(entry, new / entry.name)


def _link_or_copy(source: str | os.PathLike, destination: str | os.PathLike) -> None:
    if os.path.islink(source):
        os.symlink(os.readlink(source), destination)
        return
    try:
        os.link(source, destination, follow_symlinks=False)
    except OSError:
        if not stat.S_ISREG(os.lstat(source).st_mode):
            raise
        shutil.copy2(source, destination)


def _keep_modes(old: Path, new: Path) -> None:
    """Give ``new`` and its entries the modes (and, where allowed, the group) of ``old`` and its same-named
    entries; an entry ``old`` lacks gets its default mode less the access ``old`` denies."""
    old_stat = old.stat()
    denied = _denied(old_stat.st_mode)
    for path in [new, *new.rglob("*")]:
        if path.is_symlink():
            continue
        counterpart = old / path.relative_to(new)
        try:
            before = counterpart.lstat()
        except OSError:
            before = None
        if before is not None and stat.S_IFMT(before.st_mode) == stat.S_IFMT(path.lstat().st_mode):
            mode, group = stat.S_IMODE(before.st_mode), before.st_gid
        else:
            mode, group = stat.S_IMODE(path.lstat().st_mode) & ~denied, old_stat.st_gid
        if path.lstat().st_gid != group:
            try:
                os.chown(path, -1, group)
            except OSError:
                pass  # not ours to give away: the mode still holds
        os.chmod(path, mode)


def _denied(folder_mode: int) -> int:
    """The permission bits of the classes (owner, group, others) to which ``folder_mode`` grants nothing."""
    return sum(0o7 << shift for shift in (6, 3, 0) if not (folder_mode >> shift) & 0o7)


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
        old = old_folder(target)
        shutil.rmtree(old, ignore_errors=True)
        os.rename(target, old)
        os.rename(new, target)
        shutil.rmtree(old)
    fsync(target.parent)


def old_folder(target: Path) -> Path:
    """Where a two-rename swap keeps the old folder between its renames: ``.<name>.old`` beside it."""
    return target.parent / f".{target.name}.old"


def recover_interrupted_replace(target: Path) -> None:
    """Where a two-rename swap died between its renames, put the old, complete index back (call it only
    while holding the folder's writer lock: a live swap looks just the same)."""
    old = old_folder(target)
    if not target.exists() and old.is_dir():
        os.rename(old, target)


def remove_leftovers(target: Path) -> None:
    """Remove the temporary folders (``.<name>.tmp-*``) and the old folder of a swap that writers of ``target``
    left when they were killed (call it only while holding the folder's writer lock)."""
    prefix = _temp_prefix(target)
    try:
        entries = list(os.scandir(target.parent))
    except FileNotFoundError:
        return
    for entry in entries:
        if entry.name.startswith(prefix) and entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
    if target.exists():
        shutil.rmtree(old_folder(target), ignore_errors=True)


def work_folder(output: str | os.PathLike, kind: str) -> Path:
    """Where a long job that ends by writing ``output`` keeps what lets it resume: ``.<name>.<kind>`` beside it
    (same file system, hidden, and named for the output it belongs to)."""
    output = Path(output)
    return output.parent / f".{output.name}.{kind}"
