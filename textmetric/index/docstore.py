"""The document store: label <-> doc id <-> title and text, in SQLite, with the label maps in memory.

A vector index knows its vectors by integer label only; this store names them. Labels
are handed out in increasing order and never reused, so the graph's deleted vectors
keep labels that no live document has. On disk: one SQLite file (``docs.sqlite``),
table ``docs (label INTEGER PRIMARY KEY, doc_id TEXT UNIQUE, title TEXT, text TEXT)``.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..data import Document
from ..errors import InputError
from ..search.ranking import id_ranks

__all__ = ["DocStore"]


class DocStore:
    """Documents by doc id and by label; ``next_label`` is the first label not yet handed out."""

    def __init__(self, next_label: int = 0) -> None:
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.execute("CREATE TABLE docs (label INTEGER PRIMARY KEY, doc_id TEXT NOT NULL UNIQUE, "
                         "title TEXT NOT NULL, text TEXT NOT NULL)")
        self._id_of: dict[int, str] = {}     # live label -> doc id
        self._label_of: dict[str, int] = {}  # live doc id -> label
        self.ids_by_label = np.empty(0, dtype=object)  # label -> doc id, for vectorised lookups in a search
        self.next_label = next_label
        self._grow(next_label)
        self._tie_rank: np.ndarray | None = None

    def __len__(self) -> int:
        """Number of live documents."""
        return len(self._label_of)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._label_of

    @property
    def ids(self) -> list[str]:
        """Live doc ids in label order (the order they were added)."""
        return [self._id_of[label] for label in sorted(self._id_of)]

    def labels(self, doc_ids: Iterable[str]) -> list[int]:
        """The labels of ``doc_ids`` (a KeyError for one that is not here)."""
        return [self._label_of[d] for d in doc_ids]

    def document(self, doc_id: str) -> Document | None:
        """The stored title and text of a document, or None if it is not here."""
        row = self._db.execute("SELECT title, text FROM docs WHERE doc_id = ?", (doc_id,)).fetchone()
        return None if row is None else Document(text=row[1], title=row[0])

    def documents(self) -> tuple[list[str], list[Document]]:
        """Every live doc id and its document, in label order."""
        rows = self._db.execute("SELECT doc_id, title, text FROM docs ORDER BY label").fetchall()
        return [r[0] for r in rows], [Document(text, title) for _, title, text in rows]

    def tie_rank(self) -> np.ndarray:
        """Per label, the position of its doc id among the live ones in descending order (trec_eval's
        tie-break); computed once per state of the store."""
        if self._tie_rank is None:
            labels = sorted(self._id_of)
            rank = np.zeros(max(self.next_label, 1), dtype=np.int64)
            rank[labels] = id_ranks([self._id_of[label] for label in labels])
            self._tie_rank = rank
        return self._tie_rank

    # -- changing it -----------------------------------------------------------------------------

    def add(self, labels: np.ndarray, ids: Sequence[str], documents: Sequence[Document] | None = None) -> list[int]:
        """Store documents under new ``labels``; an id already here is replaced. Returns the replaced labels."""
        replaced = [self._label_of.pop(d) for d in ids if d in self._label_of]
        for label in replaced:
            del self._id_of[label]
        docs = documents if documents is not None else [Document("")] * len(ids)
        with self._db:
            self._db.executemany("DELETE FROM docs WHERE doc_id = ?", ((d,) for d in ids))
            self._db.executemany("INSERT INTO docs (label, doc_id, title, text) VALUES (?, ?, ?, ?)",
                                 ((int(label), d, doc.title, doc.text) for label, d, doc in zip(labels, ids, docs)))
        for label, doc_id in zip(labels.tolist(), ids):
            self._id_of[label] = doc_id
            self._label_of[doc_id] = label
        self.next_label = max(self.next_label, int(labels.max()) + 1) if len(labels) else self.next_label
        self._grow(self.next_label)
        self.ids_by_label[labels] = np.asarray(ids, dtype=object)
        self._tie_rank = None
        return replaced

    def remove(self, ids: Iterable[str]) -> tuple[list[int], list[str]]:
        """Delete documents by id; returns the labels removed and the ids that were not here."""
        removed, gone, missing = [], [], []
        for doc_id in dict.fromkeys(ids):
            label = self._label_of.pop(doc_id, None)
            if label is None:
                missing.append(doc_id)
                continue
            del self._id_of[label]
            removed.append(label)
            gone.append(doc_id)
        with self._db:
            self._db.executemany("DELETE FROM docs WHERE doc_id = ?", ((d,) for d in gone))
        if removed:
            self._tie_rank = None
        return removed, missing

    def _grow(self, size: int) -> None:
        if size > len(self.ids_by_label):
            grown = np.empty(max(size, 2 * len(self.ids_by_label)), dtype=object)
            grown[:len(self.ids_by_label)] = self.ids_by_label
            self.ids_by_label = grown

    # -- on disk ---------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> None:
        """Copy the store into the SQLite file ``path``."""
        disk = sqlite3.connect(path)
        try:
            self._db.backup(disk)
        finally:
            disk.close()

    @classmethod
    def load(cls, path: str | os.PathLike, next_label: int, data: bytes | None = None) -> "DocStore":
        """Read a store that :meth:`save` wrote to ``path``, or (``data``) the bytes of that file. The file is
        read as bytes, never opened by SQLite: no URI to escape, so any character may be in the path."""
        store = cls(next_label)
        try:
            store._db.deserialize(data if data is not None else Path(path).read_bytes())
            store._db.execute("SELECT label, doc_id, title, text FROM docs LIMIT 1").fetchall()
        except sqlite3.DatabaseError as e:
            raise InputError(f"cannot read {os.path.basename(path)}: {e}", os.path.dirname(path)) from None
        for label, doc_id in store._db.execute("SELECT label, doc_id FROM docs"):
            store._id_of[label] = doc_id
            store._label_of[doc_id] = label
        store._grow(max(store.next_label, max(store._id_of, default=-1) + 1))
        for label, doc_id in store._id_of.items():
            store.ids_by_label[label] = doc_id
        return store
