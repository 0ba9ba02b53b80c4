"""The index's reader/writer lock (:class:`ReadWriteLock`), one for all its parts."""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

__all__ = ["ReadWriteLock", "ANY_MODE"]

ANY_MODE = object()  # a reader that leaves the graph alone (a lexical search, a save) shares with any


class ReadWriteLock:
    """Many searches at once, or one writer alone: hnswlib must not search while it inserts.

    Readers share the lock only when they agree on ``mode`` (the search depth ef, a
    setting of the shared graph); a reader with another mode waits its turn. A reader
    that leaves the graph alone (``mode=ANY_MODE``, e.g. a lexical search) shares with any.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False
        self._mode: object = None

    @contextlib.contextmanager
    def reading(self, mode: object = None) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writing and (
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
            self._cond.wait_for(lambda: not self._writing and self._readers == 0)
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()
