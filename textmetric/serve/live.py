"""The index a service answers from: loaded once, replaced whole when its folder changes.

A search takes the current :class:`Snapshot` once and finishes on it, so a swap never shows
a request half of one state and half of another, and searches in flight when a new state
arrives end on the old one. Writes through the service take turns: each loads the folder as
it is on disk, applies the change with the library's :func:`add_documents` or
:meth:`Index.delete`, saves it with the crash-safe folder swap, and only then publishes the
new snapshot, so a write is acknowledged once it is on disk. Changes made by another
process (``textmetric add`` / ``delete``) are noticed by a watcher thread that compares each
folder's stamp every ``poll`` seconds and swaps in the new state the same way.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from ..data import Corpus
from ..encoding import Encoder
from ..errors import InputError, warn
from ..index import Index
from ..index.building import add_documents, check_model
from ..index.folder import MANIFEST
from ..index.shards import ShardedIndex

__all__ = ["LiveIndex", "Snapshot", "folder_stamp", "DEFAULT_POLL"]

DEFAULT_POLL = 0.5  # seconds between two looks at the index folders for another process's change


def folder_stamp(path: Path) -> tuple[int, int, int]:
    """What changes whenever an index folder is saved again: its manifest's inode, mtime and size.

    Every save swaps a complete new folder in, so the manifest is a new file; one ``stat``.
    """
    stat = os.stat(path / MANIFEST)
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


@dataclass(frozen=True)
class Snapshot:
    """One loaded state of the index folders: what a request searches from start to end."""

    index: Index | ShardedIndex
    parts: tuple[Index, ...]  # one per folder (the index itself when there is one)
    stamps: tuple
    generation: int  # 0 for the state loaded at start, +1 for each one swapped in since
    loaded_at: float  # time.time() of the load


class LiveIndex:
    """The loaded index folders, kept up to date: writes through :meth:`add` / :meth:`delete`, and reloads
    when another process changes a folder (:meth:`refresh`, called by the watcher every ``poll`` seconds)."""

    def __init__(self, paths: Sequence[str | os.PathLike], encoder: Encoder | None = None, *,
                 poll: float = DEFAULT_POLL, batch_size: int = 32) -> None:
        if not paths:
            raise InputError("no index to serve")
        self.paths = [Path(p) for p in paths]
        self.encoder = encoder  # the model the index is searched with: what new documents are encoded by
        self.poll = poll
        self.batch_size = batch_size
        self.reload_error: str | None = None  # why the last look at a changed folder kept the old state
        self._turn = threading.Lock()  # one writer or reloader at a time
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        stamps = self._stamps_or_none()  # taken before the load: a save meanwhile shows as a change
        index, parts = self._load()  # a folder that is no index fails here, in one line
        self.current = Snapshot(index, parts, stamps or self._stamps(), 0, time.time())

    @property
    def writable(self) -> bool:
        """Whether documents can be added and deleted here: one index, not several shards searched together."""
        return len(self.paths) == 1

    def _load(self) -> tuple[Index | ShardedIndex, tuple[Index, ...]]:
        parts = tuple(Index.load(p) for p in self.paths)
        return (parts[0] if len(parts) == 1 else ShardedIndex(parts, [str(p) for p in self.paths])), parts

    def _stamps(self) -> tuple:
        return tuple(folder_stamp(p) for p in self.paths)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """One change at a time in this process (the cross-process writer lock of the index goes here too)."""
        with self._turn:
            yield

    def _publish(self, index: Index | ShardedIndex, parts: tuple[Index, ...], stamps: tuple) -> Snapshot:
        self.current = Snapshot(index, parts, stamps, self.current.generation + 1, time.time())
        return self.current

    # -- changes made elsewhere --------------------------------------------------------------------

    def refresh(self) -> bool:
        """Swap in the folders' new state if another process changed one; returns whether it did.

        A folder that cannot be read (caught mid-swap, or now holding another model's vectors)
        leaves the current state in place, with the reason in :attr:`reload_error`, and is
        tried again at the next look.
        """
        if self._stamps_or_none() == self.current.stamps:
            return False
        with self._writing():
            stamps = self._stamps_or_none()
            if stamps is None or stamps == self.current.stamps:
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
            self._publish(index, parts, stamps)
        return True

    def _stamps_or_none(self) -> tuple | None:
        try:
            return self._stamps()
        except OSError:  # a folder between the two renames of a swap: look again later
            return None

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
        with self._writing():
            path = self._single()
            index = Index.load(path)
            added, replaced = add_documents(index, self.encoder, corpus, batch_size=self.batch_size)
            index.save(path)
            self._publish(index, (index,), self._stamps())
        return added, replaced

    def delete(self, ids: Sequence[str]) -> list[str]:
        """Delete documents by id, on disk before this returns; returns the ids that were not there."""
        with self._writing():
            path = self._single()
            index = Index.load(path)
            missing = index.delete(ids)
            if len(missing) < len(set(ids)):
                index.save(path)
                self._publish(index, (index,), self._stamps())
        return missing

    def _single(self) -> Path:
        if not self.writable:
            raise InputError(f"writes need one index: this service searches {len(self.paths)} together")
        return self.paths[0]
