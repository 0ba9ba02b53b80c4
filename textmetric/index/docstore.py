"""The document store: label <-> doc id <-> title, text and fields, in SQLite, with the label maps in memory.

A vector index knows its vectors by integer label only; this store names them. Labels
are handed out in increasing order and never reused, so the graph's deleted vectors
keep labels that no live document has. On disk: one SQLite file (``docs.sqlite``),
table ``docs (label INTEGER PRIMARY KEY, doc_id TEXT UNIQUE, title TEXT, text TEXT)``
and table ``fields (label, name, kind, value)``, one row per field of a document (kind
``string``, ``number``, ``boolean`` stored 0/1, ``null``, or ``json`` for a list or object,
stored as its JSON text), indexed by ``(name, kind, value)`` so that a filter is a few
index lookups (:meth:`DocStore.matching`). A store written before fields existed has no
``fields`` table: its documents load with none.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..data import Document
from ..data.fields import field_value, kind_of
from ..errors import InputError
from .filters import Condition, Filter
from ..search.ranking import id_ranks

__all__ = ["DocStore", "check_fields"]


class DocStore:
    """Documents by doc id and by label; ``next_label`` is the first label not yet handed out."""

    def __init__(self, next_label: int = 0) -> None:
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.execute("CREATE TABLE docs (label INTEGER PRIMARY KEY, doc_id TEXT NOT NULL UNIQUE, "
                         "title TEXT NOT NULL, text TEXT NOT NULL)")
        self._create_fields_table()
        self._id_of: dict[int, str] = {}     # live label -> doc id
        self._label_of: dict[str, int] = {}  # live doc id -> label
        self.ids_by_label = np.empty(0, dtype=object)  # label -> doc id, for vectorised lookups in a search
        self.next_label = next_label
        self._grow(next_label)
        self._tie_rank: np.ndarray | None = None
        self._live_labels: np.ndarray | None = None
        self._kinds: dict[str, frozenset[str]] | None = None

    def _create_fields_table(self) -> None:
        self._db.execute("CREATE TABLE IF NOT EXISTS fields (label INTEGER NOT NULL, name TEXT NOT NULL, "
                         "kind TEXT NOT NULL, value, UNIQUE (label, name))")
        self._db.execute("CREATE INDEX IF NOT EXISTS fields_by_value ON fields (name, kind, value)")

    def _changed(self) -> None:
        self._tie_rank = self._live_labels = self._kinds = None

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
        """The stored title, text and fields of a document, or None if it is not here."""
        row = self._db.execute("SELECT label, title, text FROM docs WHERE doc_id = ?", (doc_id,)).fetchone()
        if row is None:
            return None
        fields = self._db.execute("SELECT name, kind, value FROM fields WHERE label = ? ORDER BY rowid", (row[0],))
        return Document(text=row[2], title=row[1], fields={name: _loaded(kind, value) for name, kind, value in fields})

    def documents(self) -> tuple[list[str], list[Document]]:
        """Every live doc id and its document, in label order."""
        fields: dict[int, dict[str, Any]] = {}
        for label, name, kind, value in self._db.execute("SELECT label, name, kind, value FROM fields "
                                                         "ORDER BY label, rowid"):
            fields.setdefault(label, {})[name] = _loaded(kind, value)
        rows = self._db.execute("SELECT label, doc_id, title, text FROM docs ORDER BY label").fetchall()
        return [r[1] for r in rows], [Document(text, title, fields.get(label, {})) for label, _, title, text in rows]

    def field_kinds(self) -> dict[str, frozenset[str]]:
        """Each field some live document has, and the kinds of value it holds there (``string``, ``number``,
        ``boolean``, ``null``, ``json``); computed once per state of the store."""
        if self._kinds is None:
            kinds: dict[str, set[str]] = {}
            for name, kind in self._db.execute("SELECT DISTINCT name, kind FROM fields "
                                               "WHERE label IN (SELECT label FROM docs)"):
                kinds.setdefault(name, set()).add(kind)
            self._kinds = {name: frozenset(held) for name, held in sorted(kinds.items())}
        return self._kinds

    def matching(self, filter: Filter) -> np.ndarray:
        """The labels of the live documents whose fields pass ``filter``, ascending."""
        clauses, params = [], []
        for condition in filter.conditions:
            clause, values = _clause(condition)
            clauses.append(clause)
            params += values
        where = " AND ".join(clauses) or "1"
        rows = self._db.execute(f"SELECT label FROM docs WHERE {where} ORDER BY label", params).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def live_labels(self) -> np.ndarray:
        """The labels of the live documents, ascending: row i of the lexical side is the i-th of them."""
        if self._live_labels is None:
            self._live_labels = np.fromiter(sorted(self._id_of), dtype=np.int64, count=len(self._id_of))
        return self._live_labels

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
        docs = documents if documents is not None else [Document("")] * len(ids)
        fields = [(int(label), name, *_stored(value, doc_id, name))  # a bad value fails before any change
                  for label, doc_id, doc in zip(labels, ids, docs) for name, value in doc.fields.items()]
        replaced = [self._label_of.pop(d) for d in ids if d in self._label_of]
        for label in replaced:
            del self._id_of[label]
        with self._db:
            self._db.executemany("DELETE FROM docs WHERE doc_id = ?", ((d,) for d in ids))
            self._db.executemany("DELETE FROM fields WHERE label = ?", ((label,) for label in replaced))
            self._db.executemany("INSERT INTO docs (label, doc_id, title, text) VALUES (?, ?, ?, ?)",
                                 ((int(label), d, doc.title, doc.text) for label, d, doc in zip(labels, ids, docs)))
            self._db.executemany("INSERT INTO fields (label, name, kind, value) VALUES (?, ?, ?, ?)", fields)
        for label, doc_id in zip(labels.tolist(), ids):
            self._id_of[label] = doc_id
            self._label_of[doc_id] = label
        self.next_label = max(self.next_label, int(labels.max()) + 1) if len(labels) else self.next_label
        self._grow(self.next_label)
        self.ids_by_label[labels] = np.asarray(ids, dtype=object)
        self._changed()
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
            self._db.executemany("DELETE FROM fields WHERE label = ?", ((label,) for label in removed))
        if removed:
            self._changed()
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
            _restore(store._db, data if data is not None else Path(path).read_bytes())
            store._db.execute("SELECT label, doc_id, title, text FROM docs LIMIT 1").fetchall()
        except sqlite3.DatabaseError as e:
            raise InputError(f"cannot read {os.path.basename(path)}: {e}", os.path.dirname(path)) from None
        store._create_fields_table()  # absent from a store written before documents had fields
        for label, doc_id in store._db.execute("SELECT label, doc_id FROM docs"):
            store._id_of[label] = doc_id
            store._label_of[doc_id] = label
        store._grow(max(store.next_label, max(store._id_of, default=-1) + 1))
        for label, doc_id in store._id_of.items():
            store.ids_by_label[label] = doc_id
        return store


_DESERIALIZE = hasattr(sqlite3.Connection, "deserialize")  # Python 3.11 and later


def _restore(db: sqlite3.Connection, data: bytes) -> None:
    """Make ``db`` a copy of the SQLite file whose bytes are ``data`` (without ``deserialize``, through a
    private temporary file opened by its plain path, never a URI)."""
    if _DESERIALIZE:
        db.deserialize(data)
        return
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "docs.sqlite"
        copy.write_bytes(data)
        disk = sqlite3.connect(copy)
        try:
            disk.backup(db)
        finally:
            disk.close()


def check_fields(ids: Sequence[str], documents: Sequence[Document]) -> None:
    """Raise the InputError :meth:`DocStore.add` would for a field value JSON cannot hold, before anything
    changes anywhere."""
    for doc_id, doc in zip(ids, documents):
        for name, value in doc.fields.items():
            field_value(value, {"path": f"document '{doc_id}'"}, name)


def _stored(value: Any, doc_id: str, name: str) -> tuple[str, Any]:
    """(kind, SQLite value) of a field value: booleans as 0/1, lists and objects as JSON text."""
    value = field_value(value, {"path": f"document '{doc_id}'"}, name)
    kind = kind_of(value)
    if kind == "json":
        return kind, json.dumps(value, ensure_ascii=False)
    return kind, int(value) if kind == "boolean" else value


def _loaded(kind: str, value: Any) -> Any:
    if kind == "json":
        return json.loads(value)
    return bool(value) if kind == "boolean" else value


def _equal(value: Any) -> tuple[str, list]:
    """SQL over ``fields`` (after ``name = ?``) for a value equal to ``value``, and its parameters."""
    kind = kind_of(value)
    if kind == "null":
        return "kind = 'null'", []
    return "kind = ? AND value = ?", [kind, value]


def _clause(condition: Condition) -> tuple[str, list]:
    """SQL over ``docs`` for one condition of a filter, and its parameters."""
    name, op, value = condition.field, condition.op, condition.value
    if op == "$in":
        tests = [_equal(v) for v in value]
        if not tests:
            return "0", []
        test = " OR ".join(f"({sql})" for sql, _ in tests)
        params = [p for _, values in tests for p in values]
    elif op in ("$eq", "$ne"):
        test, params = _equal(value)
    else:
        comparison = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}[op]
        test, params = f"kind = ? AND value {comparison} ?", [kind_of(value), value]
    subquery = f"SELECT label FROM fields WHERE name = ? AND ({test})"
    return f"label {'NOT IN' if op == '$ne' else 'IN'} ({subquery})", [name, *params]
