"""The index a service answers from: loaded once, replaced whole when its folder changes.

A search takes the current :class:`Snapshot` once and finishes on it, so a swap never shows
a request half of one state and half of another, and searches in flight when a new state
arrives end on the old one. A write through the service holds the folder's writer lock
(:func:`~textmetric.index.write_lock`, shared with ``textmetric add`` in other processes)
from loading the folder as it is on disk to saving it with the crash-safe folder swap; it
applies the change with the library's :func:`add_documents` or :meth:`Index.delete`, and
only then publishes the new snapshot, so a write is acknowledged once it is on disk.
Changes made by another process (``textmetric add`` / ``delete`` / ``compact``) are noticed
by a watcher thread that asks each loaded index whether its folder holds another generation
(:meth:`Index.changed`, which reads only the manifest) every ``poll`` seconds, and swapped in
the same way.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..data import Corpus
from ..encoding import Encoder
from ..errors import InputError, Range, warn
from ..index import Index, write_lock
from ..index.locking import LOCK_TIMEOUT_RANGE
from ..index.building import add_documents, check_model
from ..index.collection import is_collection
from ..index.shards import ShardedIndex, load_indexes

__all__ = ["LiveIndex", "Snapshot", "DEFAULT_POLL", "POLL_RANGE", "DEFAULT_LOCK_TIMEOUT"]

DEFAULT_POLL = 0.5  # seconds between two looks at the index folders for another process's change
POLL_RANGE = Range(0)  # 0: never look
DEFAULT_LOCK_TIMEOUT = 30.0  # seconds a write waits for another process's writer lock before it is refused


@dataclass(frozen=True)
class Snapshot:
    """One loaded state of the index folders: what a request searches from start to end."""

    index: Index | ShardedIndex
    parts: tuple[Index, ...]  # one per index folder (the index itself when there is one; a collection's shards)
    state: int  # 0 for the state loaded at start, +1 for each one swapped in since
    loaded_at: float  # time.time() of the load

    def changed(self) -> bool:
        """Whether a folder holds another generation than the one loaded here."""
        return any(part.changed() for part in self.parts)


class LiveIndex:
    """The loaded index folders, kept up to date: writes through :meth:`add` / :meth:`delete`, and reloads
    when another process changes a folder (:meth:`refresh`, called by the watcher every ``poll`` seconds).

    ``encoder``: the model the index is searched with, which new documents are encoded by and
    a reloaded folder is checked against (set it before the first write or reload). A write
    waits ``lock_timeout`` seconds at most for another process's writer lock, then raises
    :class:`~textmetric.index.LockTimeout`.
    """

    def __init__(self, paths: Sequence[str | os.PathLike], encoder: Encoder | None = None, *,
                 poll: float = DEFAULT_POLL, batch_size: int = 32,
                 lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT) -> None:
        if not paths:
            raise InputError("no index to serve")
        self.paths = [Path(p) for p in paths]
        self.encoder = encoder
        self.poll = POLL_RANGE.check("poll", poll)
        if lock_timeout is not None:
            LOCK_TIMEOUT_RANGE.check("lock_timeout", lock_timeout)
        self.batch_size = batch_size
        self.lock_timeout = lock_timeout
        self.reload_error: str | None = None  # why the last look at a changed folder kept the old state
        self._turn = threading.Lock()  # one writer or reloader at a time in this process
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self.current = Snapshot(*self._load(), 0, time.time())

    @property
    def writable(self) -> bool:
        """Whether documents can be added and deleted here: one index, not several shards searched together
        (nor a collection of them)."""
        return len(self.paths) == 1 and not is_collection(self.paths[0])

    def _load(self) -> tuple[Index | ShardedIndex, tuple[Index, ...]]:
        index = load_indexes(self.paths)  # a collection folder: its shards, searched together
        return index, tuple(index.shards) if isinstance(index, ShardedIndex) else (index,)

    def _publish(self, index: Index | ShardedIndex, parts: tuple[Index, ...]) -> Snapshot:
        self.current = Snapshot(index, parts, self.current.state + 1, time.time())
        return self.current

    # -- changes made elsewhere --------------------------------------------------------------------

    def refresh(self) -> bool:
        """Swap in the folders' new state if another process changed one; returns whether it did.

        A folder that cannot be read, or that now holds another model's vectors, leaves the
        current state in place, with the reason in :attr:`reload_error`, and is tried again at
        the next look.
        """
        if not self.current.changed():
            return False
        with self._turn:
            if not self.current.changed():
                return False
            try:
                index, parts = self._load()
                if index.model != self.current.index.model:
                    check_model(index, self.encoder)
            except (InputError, OSError) as error:
                if str(error) != self.reload_error:
                    warn(f"kept the loaded index: {error}")
                self.reload_error = str(error)
                return False
            self.reload_error = None
            self._publish(index, parts)
        return True

    def start(self) -> None:
        """Start the watcher thread (once)."""
        if self._watcher is None and self.poll > 0:
            self._watcher = threading.Thread(target=self._watch, name="textmetric-index-watcher", daemon=True)
            self._watcher.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the watcher thread."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout)

    def _watch(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                self.refresh()
            except Exception as error:  # the watcher outlives any one look
                warn(f"checking the index folders failed: {type(error).__name__}: {error}")

    # -- changes made here -------------------------------------------------------------------------

    def add(self, corpus: Corpus) -> tuple[int, int]:
        """Encode and add ``corpus`` (new ids added, existing ones replaced), on disk before this returns;
        returns (added, replaced) as :func:`add_documents` does."""
        path = self._single()
        with self._turn, write_lock(path, self.lock_timeout):
            index = Index.load(path)
            added, replaced = add_documents(index, self.encoder, corpus, batch_size=self.batch_size)
            index.save(path)
            self._publish(index, (index,))
        return added, replaced

    def delete(self, ids: Sequence[str]) -> list[str]:
        """Delete documents by id, on disk before this returns; returns the ids that were not there."""
        path = self._single()
        with self._turn, write_lock(path, self.lock_timeout):
            index = Index.load(path)
            missing = index.delete(ids)
            if len(missing) < len(set(ids)):
                index.save(path)
                self._publish(index, (index,))
        return missing

    def _single(self) -> Path:
        if not self.writable:
            raise InputError(f"writes need one index: this service searches {len(self.paths)} together")
        return self.paths[0]
