"""The on-disk index: an HNSW graph (hnswlib), its documents (SQLite) and a manifest.

::

    my-index/
      manifest.json   format version, model identity, dim, space, count, HNSW parameters, file checksums
      hnsw.bin        the hnswlib graph
      docs.sqlite     label <-> doc id <-> title and text
      lexical/        optional: the BM25 side (see ``lexical.py``), rebuilt from the live documents

hnswlib forgets its space, dimension and ef when it saves: the manifest is the
source of truth and ``Index.load`` restores them. Every save writes a complete
new folder beside the target and swaps it into place, so a crash at any moment
leaves the previous index or the new one, never a mix. No pickle anywhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sqlite3
import threading
import time
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from .atomic import fsync, recover_interrupted_replace, replace_folder, temp_folder_beside
from .data import Document
from .encoding import ROLES
from .errors import InputError
from .lexical import LexicalIndex, LexicalSettings
from .retrieve import SPACES, Hits

__all__ = ["Index", "FORMAT_VERSION", "DEFAULT_M", "DEFAULT_EF_CONSTRUCTION", "DEFAULT_EF"]

FORMAT = "textmetric-index"
FORMAT_VERSION = 1
MANIFEST, GRAPH, DOCS, LEXICAL = "manifest.json", "hnsw.bin", "docs.sqlite", "lexical"
DEFAULT_M = 16
DEFAULT_EF_CONSTRUCTION = 200
DEFAULT_EF = 100
_SEED = 100
ANY_MODE = object()


class _ReadWriteLock:
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


class Index:
    """An HNSW graph over document embeddings, with the documents themselves and their ids."""

    def __init__(self, dim: int, space: str = "cosine", *, model: dict | None = None, m: int = DEFAULT_M,
                 ef_construction: int = DEFAULT_EF_CONSTRUCTION, ef: int = DEFAULT_EF,
                 capacity: int = 1024) -> None:
        import hnswlib

        if space not in SPACES:
            raise InputError(f"unknown space '{space}' (expected one of {', '.join(SPACES)})")
        for name, value in (("dim", dim), ("m", m), ("ef_construction", ef_construction), ("ef", ef)):
            if value < 1:
                raise InputError(f"{name} must be at least 1, got {value}")
        self.dim, self.space, self.model = int(dim), space, model
        self.shard: tuple[int, int] | None = None  # (i, N): this index holds shard i of N (see shards.py)
        self.m, self.ef_construction, self.ef = int(m), int(ef_construction), int(ef)
        self._graph = hnswlib.Index(space=space, dim=self.dim)
        self._graph.init_index(max_elements=max(capacity, 1), M=self.m, ef_construction=self.ef_construction,
                               random_seed=_SEED)
        self._db = _new_docs_db()
        self._id_of: dict[int, str] = {}     # live label -> doc id
        self._label_of: dict[str, int] = {}  # live doc id -> label
        self._ids_by_label = np.empty(0, dtype=object)  # label -> doc id, for vectorised lookups in search
        self._next_label = 0
        self._lock = _ReadWriteLock()
        self._lexical_settings: LexicalSettings | None = None
        self._lexical: LexicalIndex | None = None  # None while stale: rebuilt from docs when next needed
        self._lexical_build = threading.Lock()

    # -- what it holds ---------------------------------------------------------------------------

    def __len__(self) -> int:
        """Number of live (not deleted) documents."""
        return len(self._label_of)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._label_of

    @property
    def element_count(self) -> int:
        """Vectors in the graph, deleted ones included (``compact`` drops those)."""
        return int(self._graph.element_count)

    @property
    def ids(self) -> list[str]:
        """Live doc ids, in the order they were added."""
        return [self._id_of[label] for label in sorted(self._id_of)]

    def document(self, doc_id: str) -> Document | None:
        """The stored title and text of a document, or None if it is not in the index."""
        row = self._db.execute("SELECT title, text FROM docs WHERE doc_id = ?", (doc_id,)).fetchone()
        return None if row is None else Document(text=row[1], title=row[0])

    def embeddings(self, doc_ids: Sequence[str]) -> np.ndarray:
        """The stored vectors of ``doc_ids`` (normalised for the cosine space, as hnswlib keeps them)."""
        labels = [self._label_of[d] for d in doc_ids]
        return np.asarray(self._graph.get_items(labels), dtype=np.float32).reshape(len(labels), self.dim)

    # -- changing it -----------------------------------------------------------------------------

    def add(self, ids: Sequence[str], embeddings: np.ndarray, documents: Sequence[Document] | None = None) -> None:
        """Add documents; an id already in the index is replaced (its old vector is deleted)."""
        embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        if embeddings.ndim != 2 or embeddings.shape[1] != self.dim:
            raise InputError(f"embeddings of shape {embeddings.shape} do not fit an index of dimension {self.dim}")
        if len(ids) != len(embeddings) or (documents is not None and len(documents) != len(ids)):
            raise ValueError("ids, embeddings and documents must have the same length")
        duplicates = _duplicates(ids)
        if duplicates:
            raise InputError(f"{len(duplicates)} duplicate id(s) in one batch: {', '.join(duplicates[:5])}")
        if not ids:
            return
        with self._lock.writing():
            for doc_id in ids:
                old = self._label_of.pop(doc_id, None)
                if old is not None:
                    self._graph.mark_deleted(old)
                    del self._id_of[old]
            labels = np.arange(self._next_label, self._next_label + len(ids), dtype=np.int64)
            needed = self._graph.element_count + len(ids)
            if needed > self._graph.get_max_elements():
                self._graph.resize_index(max(needed, 2 * self._graph.get_max_elements()))
            self._graph.add_items(embeddings, labels)
            self._next_label += len(ids)
            docs = documents if documents is not None else [Document("")] * len(ids)
            with self._db:
                self._db.executemany("DELETE FROM docs WHERE doc_id = ?", ((d,) for d in ids))
                self._db.executemany("INSERT INTO docs (label, doc_id, title, text) VALUES (?, ?, ?, ?)",
                                     ((int(label), d, doc.title, doc.text)
                                      for label, d, doc in zip(labels, ids, docs)))
            for label, doc_id in zip(labels.tolist(), ids):
                self._id_of[label] = doc_id
                self._label_of[doc_id] = label
            self._grow_id_array(self._next_label)
            self._ids_by_label[labels] = np.asarray(ids, dtype=object)
            self._lexical = None

    def _grow_id_array(self, size: int) -> None:
        if size > len(self._ids_by_label):
            grown = np.empty(max(size, 2 * len(self._ids_by_label)), dtype=object)
            grown[:len(self._ids_by_label)] = self._ids_by_label
            self._ids_by_label = grown

    def delete(self, ids: Iterable[str]) -> list[str]:
        """Delete documents by id; returns the ids that were not in the index (and so changed nothing)."""
        missing = []
        with self._lock.writing():
            gone = []
            for doc_id in dict.fromkeys(ids):
                label = self._label_of.pop(doc_id, None)
                if label is None:
                    missing.append(doc_id)
                    continue
                self._graph.mark_deleted(label)
                del self._id_of[label]
                gone.append(doc_id)
            with self._db:
                self._db.executemany("DELETE FROM docs WHERE doc_id = ?", ((d,) for d in gone))
            if gone:
                self._lexical = None
        return missing

    def compact(self) -> "Index":
        """A new index holding only the live documents: reclaims the space deleted ones still take."""
        ids = self.ids
        fresh = Index(self.dim, self.space, model=self.model, m=self.m, ef_construction=self.ef_construction,
                      ef=self.ef, capacity=max(len(ids), 1))
        if ids:
            fresh.add(ids, self.embeddings(ids), [self.document(d) for d in ids])
        fresh._lexical_settings = self._lexical_settings
        return fresh

    # -- the lexical side ------------------------------------------------------------------------

    @property
    def lexical_settings(self) -> LexicalSettings | None:
        """The BM25 side's tokenisation and parameters, or None when the index has no lexical side."""
        return self._lexical_settings

    def enable_lexical(self, settings: LexicalSettings | None = None) -> None:
        """Give the index a BM25 side over its live documents (or rebuild it with new ``settings``)."""
        settings = settings or LexicalSettings()
        with self._lock.writing():
            self._lexical_settings = settings
            self._lexical = None
            self._lexical_index()  # build now: a bad setting (no stemmer) fails here, not at search time

    def search_lexical(self, query_texts: Sequence[str], k: int) -> list[Hits]:
        """Top ``k`` live documents per query by BM25, in trec_eval order; only documents sharing a term."""
        if self._lexical_settings is None:
            raise InputError("the index has no lexical side: build it with `textmetric index --lexical`, "
                             "or add one with `textmetric index-lexical`")
        with self._lock.reading(ANY_MODE):
            return self._lexical_index().search(query_texts, k)

    def _lexical_index(self) -> LexicalIndex:
        """The BM25 side, rebuilt from docs.sqlite if documents changed (caller holds the lock)."""
        with self._lexical_build:
            if self._lexical is None:
                rows = self._db.execute("SELECT doc_id, title, text FROM docs ORDER BY label").fetchall()
                self._lexical = LexicalIndex.build([r[0] for r in rows],
                                                   [Document(text, title).full_text for _, title, text in rows],
                                                   self._lexical_settings)
            return self._lexical

    # -- searching -------------------------------------------------------------------------------

    def search(self, query_embeddings: np.ndarray, k: int, ef: int | None = None) -> list[Hits]:
        """Top ``k`` live documents per query, in trec_eval order (score descending, ties by id descending).

        ``k`` is clamped to the live document count and ``ef`` raised to at least ``k``
        (hnswlib fails otherwise). Scores: cosine similarity for ``cosine``, the inner
        product for ``ip``, minus the squared distance for ``l2`` -- higher is closer.
        """
        queries = np.ascontiguousarray(query_embeddings, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise InputError(f"query embeddings of shape {queries.shape} do not fit an index of "
                             f"dimension {self.dim}")
        k = min(k, len(self))
        if k < 1 or len(queries) == 0:
            return [[] for _ in range(len(queries))]
        ef = max(ef or self.ef, k)
        with self._lock.reading(ef):
            labels, distances = self._knn(queries, k, ef)
            ids = self._ids_by_label[labels]
        # hnswlib's distances: 1 - cosine, 1 - inner product, or the squared L2 distance; sorted
        # ascending, so the scores come sorted descending and only ties need the doc-id order.
        scores = (-distances if self.space == "l2" else np.float32(1) - distances).astype(np.float32)
        tied = np.flatnonzero((scores[:, 1:] == scores[:, :-1]).any(axis=1))
        results = list(map(list, map(zip, ids.tolist(), scores.tolist())))
        for row in tied.tolist():
            hits = results[row]
            hits.sort(key=lambda hit: hit[0], reverse=True)
            hits.sort(key=lambda hit: hit[1], reverse=True)  # stable: ties stay by id descending
        return results

    def _knn(self, queries: np.ndarray, k: int, ef: int) -> tuple[np.ndarray, np.ndarray]:
        # ef is graph state: the caller holds the read lock for this ef, so every concurrent
        # reader asked for the same value. Only the retry below raises it, which for the
        # others can only raise recall.
        while True:
            self._graph.set_ef(ef)
            try:
                return self._graph.knn_query(queries, k=k)
            except RuntimeError:
                # With many deleted elements the beam may not reach k live ones: widen it.
                if ef >= self._graph.element_count:
                    raise
                ef = min(2 * ef, self._graph.element_count)

    # -- on disk ---------------------------------------------------------------------------------

    def manifest(self) -> dict:
        """What ``manifest.json`` records (without the file checksums that ``save`` adds)."""
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION, "model": self.model, "dim": self.dim,
            "space": self.space, "normalized": self.space == "cosine", "count": len(self),
            "hnsw": {"M": self.m, "ef_construction": self.ef_construction, "ef": self.ef,
                     "elements": int(self._graph.element_count), "next_label": self._next_label,
                     "seed": _SEED},
            **({} if self.shard is None else {"shard": {"index": self.shard[0], "count": self.shard[1]}}),
            **({} if self._lexical_settings is None else {"lexical": {
                "library": "bm25s", "settings": self._lexical_settings.to_dict()}}),
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write the index folder atomically: a complete new folder is swapped in, or nothing changes."""
        path = Path(path)
        if path.exists() and not (path / MANIFEST).exists() and any(path.iterdir()):
            raise InputError("exists and is not a textmetric index: refusing to replace it", path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_folder_beside(path)
        try:
            with self._lock.reading():
                self._graph.save_index(str(tmp / GRAPH))
                disk = sqlite3.connect(tmp / DOCS)
                try:
                    self._db.backup(disk)
                finally:
                    disk.close()
                manifest = self.manifest()
                lexical = [] if self._lexical_settings is None else [
                    f"{LEXICAL}/{name}" for name in self._lexical_index().save(tmp / LEXICAL)]
            manifest["files"] = {name: _file_digest(tmp / name) for name in (GRAPH, DOCS)}
            if lexical:
                manifest["lexical"]["count"] = len(self)
                manifest["lexical"]["files"] = {name: _file_digest(tmp / name) for name in lexical}
            manifest["saved_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
            for name in (GRAPH, DOCS, *lexical, MANIFEST):
                fsync(tmp / name)
            replace_folder(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Index":
        """Read an index folder, checking that manifest, graph and documents agree."""
        import hnswlib

        path = Path(path)
        recover_interrupted_replace(path)
        manifest = read_manifest(path)
        files = {**manifest["files"], **manifest.get("lexical", {}).get("files", {})}
        for name, expected in files.items():
            if not (path / name).exists():
                raise InputError(f"missing {name}: the index is incomplete", path)
            if _file_digest(path / name) != expected:
                raise InputError(f"{name} does not match its checksum in {MANIFEST}: the file is corrupt "
                                 f"or was changed outside textmetric", path)
        hnsw = manifest["hnsw"]
        index = cls(manifest["dim"], manifest["space"], model=manifest["model"], m=hnsw["M"],
                    ef_construction=hnsw["ef_construction"], ef=hnsw["ef"], capacity=1)
        graph = hnswlib.Index(space=manifest["space"], dim=manifest["dim"])
        try:
            graph.load_index(str(path / GRAPH), max_elements=max(hnsw["elements"], 1))
        except RuntimeError as e:
            raise InputError(f"cannot read {GRAPH}: {e}", path) from None
        if graph.element_count != hnsw["elements"]:
            raise InputError(f"{GRAPH} holds {graph.element_count} vectors but {MANIFEST} says "
                             f"{hnsw['elements']}", path)
        index._graph = graph
        index._next_label = hnsw["next_label"]
        if "shard" in manifest:
            index.shard = (int(manifest["shard"]["index"]), int(manifest["shard"]["count"]))
        disk = sqlite3.connect(f"file:{path / DOCS}?mode=ro", uri=True)
        try:
            disk.backup(index._db)
        except sqlite3.DatabaseError as e:
            raise InputError(f"cannot read {DOCS}: {e}", path) from None
        finally:
            disk.close()
        index._grow_id_array(index._next_label)
        for label, doc_id in index._db.execute("SELECT label, doc_id FROM docs"):
            index._id_of[label] = doc_id
            index._label_of[doc_id] = label
            index._ids_by_label[label] = doc_id
        if len(index) != manifest["count"]:
            raise InputError(f"{DOCS} holds {len(index)} documents but {MANIFEST} says {manifest['count']}", path)
        if "lexical" in manifest:
            settings = LexicalSettings.from_dict(manifest["lexical"].get("settings"), path / MANIFEST)
            lexical = LexicalIndex.load(path / LEXICAL, settings)
            if lexical.ids != index.ids:
                raise InputError(f"{LEXICAL}/ does not hold the same documents as {DOCS}", path)
            index._lexical_settings, index._lexical = settings, lexical
        return index


def read_manifest(path: str | os.PathLike) -> dict:
    """The manifest of an index folder, validated; a clear error for anything that is not one."""
    path = Path(path)
    if not path.exists():
        raise InputError("no such index folder", path)
    if not path.is_dir():
        raise InputError("expected an index folder, got a file", path)
    manifest_path = path / MANIFEST
    if not manifest_path.exists():
        raise InputError(f"not a textmetric index (no {MANIFEST})", path)
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"unreadable manifest: {e}", manifest_path) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InputError("not a textmetric index manifest", manifest_path)
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise InputError(f"index format version {version} is not supported by this textmetric "
                         f"(it reads version {FORMAT_VERSION})", manifest_path)
    required = {"dim": int, "space": str, "count": int, "hnsw": dict, "files": dict}
    for key, kind in required.items():
        if not isinstance(manifest.get(key), kind):
            raise InputError(f"missing or malformed '{key}'", manifest_path)
    for key in ("M", "ef_construction", "ef", "elements", "next_label"):
        if not isinstance(manifest["hnsw"].get(key), int):
            raise InputError(f"missing or malformed 'hnsw.{key}'", manifest_path)
    if "lexical" in manifest:
        lexical = manifest["lexical"]
        if not isinstance(lexical, dict) or not isinstance(lexical.get("files"), dict) or not all(
                isinstance(name, str) and re.fullmatch(rf"{LEXICAL}/[\w.-]+", name) for name in lexical["files"]):
            raise InputError("missing or malformed 'lexical.files'", manifest_path)
    if manifest["space"] not in SPACES:
        raise InputError(f"unknown space '{manifest['space']}'", manifest_path)
    model = manifest.get("model")  # its "prompts" are absent from an index older than them: none were applied
    prompts = model.get("prompts") if isinstance(model, dict) else None
    if prompts is not None and not (isinstance(prompts, dict) and all(isinstance(prompts.get(r), str) for r in ROLES)):
        raise InputError("malformed 'model.prompts' (expected the query and document prompts)", manifest_path)
    return manifest


def _new_docs_db() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", check_same_thread=False)
    db.execute("CREATE TABLE docs (label INTEGER PRIMARY KEY, doc_id TEXT NOT NULL UNIQUE, "
               "title TEXT NOT NULL, text TEXT NOT NULL)")
    return db


def _duplicates(ids: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    return [i for i in ids if i in seen or seen.add(i)]


def _file_digest(path: Path) -> dict:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}
