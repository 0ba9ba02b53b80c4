"""Who may use an index at once: the in-process reader/writer lock, and the writer lock of a folder across processes.

:class:`ReadWriteLock` lets many threads search one ``Index`` while a change waits its
turn (writer preference: a waiting change lets no new search in). :func:`folder_lock`
serialises the writers of one index folder across processes and threads with
``flock`` on ``.NAME.lock`` beside the folder, held from reading the old state to
the swap, so two writers never lose each other's work.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import threading
import time
from pathlib import Path
from typing import Iterator

from ..errors import InputError, Range, option, warn

__all__ = ["ReadWriteLock", "ANY_MODE", "folder_lock", "lock_path", "LockTimeout", "DEFAULT_LOCK_TIMEOUT",
           "LOCK_TIMEOUT_RANGE"]

ANY_MODE = object()  # a reader that leaves the graph alone (a lexical search, a save) shares with any

DEFAULT_LOCK_TIMEOUT: float | None = None
"""Seconds a writer waits for another writer of the same index folder; None waits as long as it takes."""
LOCK_TIMEOUT_RANGE = Range(0)  # no infinity: None is how to wait for ever


class ReadWriteLock:
    """Many searches at once, or one writer alone: hnswlib must not search while it inserts.

    Readers share the lock only when they agree on ``mode`` (the search depth ef, a
    setting of the shared graph); a reader with another mode waits its turn. A reader
    that leaves the graph alone (``mode=ANY_MODE``, e.g. a lexical search) shares with any.
    Writers are preferred: once one waits, new readers wait behind it, so a stream of
    searches cannot starve a change; it gets in as soon as the searches already running end.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0
        self._mode: object = None

    @contextlib.contextmanager
    def reading(self, mode: object = None) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writing and not self._writers_waiting and (
                self._readers == 0 or mode is ANY_MODE or self._mode in (mode, ANY_MODE)))
            if self._readers == 0 or mode is not ANY_MODE:
                self._mode = mode
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            try:
                self._cond.wait_for(lambda: not self._writing and self._readers == 0)
            finally:
                self._writers_waiting -= 1
                self._cond.notify_all()  # readers held back by this writer recheck (if it gave up waiting)
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


class LockTimeout(InputError):
    """Another writer held an index folder's lock for longer than the caller would wait."""


def lock_path(target: Path) -> Path:
    """The lock file of the folder ``target``: ``.NAME.lock`` beside it (the folder itself is swapped away)."""
    return target.parent / f".{target.name}.lock"


_held = threading.local()  # .paths: the lock files this thread holds, so that it may take its own lock again
os.register_at_fork(after_in_child=lambda: _held.__dict__.clear())  # a forked child holds nothing of its own


@contextlib.contextmanager
def folder_lock(target: str | os.PathLike, timeout: float | None = DEFAULT_LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the writer lock of the folder ``target`` for the block: other processes and threads wait (a warning
    says so) or, after ``timeout`` seconds, get :class:`LockTimeout`. The thread holding it may take it again.

    The lock is ``flock`` on ``.NAME.lock`` beside the folder, which the kernel releases when its
    holder dies (no stale locks); the file is removed on release.
    """
    if timeout is not None:
        LOCK_TIMEOUT_RANGE.check("lock_timeout", timeout)
    target = Path(target)
    path = lock_path(target)
    if not hasattr(_held, "paths"):
        _held.paths = set()
    if path in _held.paths:  # this thread holds it already: the outer block releases it
        yield
        return
    fd = _acquire(target, path, timeout)
    _held.paths.add(path)
    try:
        yield
    finally:
        _held.paths.discard(path)
        try:
            os.unlink(path)  # while still locked: a waiter that then gets the unlinked file sees it and retries
        except OSError:
            pass
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _acquire(target: Path, path: Path, timeout: float | None) -> int:
    """An open descriptor of the lock file ``path`` of ``target``, exclusively locked, and still the file
    that ``path`` names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
    waiting = [False]  # said once that we wait
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise InputError(f"cannot create the writer lock file: {e.strerror}", path) from None
        try:
            if not _lock(fd, target, deadline, waiting):
                raise LockTimeout(f"another writer{_holder(fd)} still holds this index's lock after {timeout:g} s: "
                                  f"try again once it has finished, or wait longer with "
                                  f"{option('lock_timeout', '--lock-timeout')}", target)
            try:
                same = os.path.samestat(os.stat(path), os.fstat(fd))
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # the holder we waited for removed the file: lock the one there now


def _lock(fd: int, target: Path, deadline: float | None, waiting: list[bool]) -> bool:
    """Lock ``fd``, saying once that we wait for another writer of ``target``; False if ``deadline`` passes first."""
    if _try_lock(fd):
        return True
    if not waiting[0]:
        warn(f"waiting for another writer{_holder(fd)} of {target} to finish")
        waiting[0] = True
    if deadline is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return True
    pause = 0.01
    while time.monotonic() < deadline:
        time.sleep(min(pause, max(deadline - time.monotonic(), 0.0)))
        pause = min(pause * 2, 0.2)
        if _try_lock(fd):
            return True
    return False


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno not in (errno.EAGAIN, errno.EACCES):
            raise
        return False
    return True


def _holder(fd: int) -> str:
    """`` (pid N)`` of the writer that holds the lock file ``fd``, as it wrote it there; empty if unknown."""
    try:
        pid = os.pread(fd, 32, 0).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""
