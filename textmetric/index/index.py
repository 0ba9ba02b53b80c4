"""The index a user opens: vectors under integer labels, the documents they stand for, an optional BM25 side.

Each part is its own object: a vector index (``vectors.py``), the document store
(``docstore.py``), the lexical side (``lexical.py``); an index joins them under one
reader/writer lock (``locking.py``) and keeps them in step as documents come and go.
:class:`Index` joins an HNSW graph and lives in an index folder (``folder.py``);
:class:`ExactIndex` joins exact search, in memory, the reference HNSW is measured
against. Both satisfy every protocol of ``protocols.py``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from ..atomic import atomic_folder
from ..data import CorpusSource, Document, load_corpus
from ..errors import InputError
from .filters import Filter, FilterSpec, checked_filter
from ..search.ranking import Hits, sorted_rows
from .docstore import DocStore, check_fields
from .folder import (COLLECTION, DOCS, GRAPH, INDEX_ENTRIES, LEXICAL, MANIFEST, Manifest, PinnedFolder,
                     check_replaceable, folder_generation, index_target, read_generation, write_lock, write_manifest)
from .lexical import BM25Statistics, LexicalIndex, LexicalSettings, LexicalSide
from .locking import ANY_MODE, DEFAULT_LOCK_TIMEOUT, ReadWriteLock
from .vectors import (DEFAULT_EF, DEFAULT_EF_CONSTRUCTION, DEFAULT_M, MAX_EF, ExactVectors, HnswVectors,
                      check_hnsw_setting, check_space, space_of)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from ..encoding import Encoder

__all__ = ["Index", "ExactIndex"]


class _Composite:
    """What the HNSW and the exact index share: documents added, replaced and deleted in every part at once."""

    _name_in_errors = "this index"  # how check_lexical names it

    def __init__(self, vectors: HnswVectors | ExactVectors, docs: DocStore, *, model: dict | None = None,
                 shard: tuple[int, int] | None = None, lexical: LexicalSettings | None = None,
                 lexical_index: LexicalIndex | None = None) -> None:
        self.vectors = vectors
        self.docs = docs
        self.model = model
        self.shard = shard  # (i, N): this index holds shard i of N (see shards.py)
        self._lock = ReadWriteLock()
        self._join_lexical(lexical, lexical_index)

    def _join_lexical(self, settings: LexicalSettings | None, built: LexicalIndex | None = None) -> None:
        self.lexical = None if settings is None else LexicalSide(settings, self._texts, built)

    def _texts(self) -> tuple[list[str], list[str]]:
        ids, documents = self.docs.documents()
        return ids, [doc.full_text for doc in documents]

    # -- what it holds ---------------------------------------------------------------------------

    @property
    def dim(self) -> int:
        return self.vectors.dim

    @property
    def space(self) -> str:
        return self.vectors.space

    def __len__(self) -> int:
        """Number of live (not deleted) documents."""
        return len(self.docs)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self.docs

    @property
    def ids(self) -> list[str]:
        """Live doc ids, in the order they were added."""
        return self.docs.ids

    def document(self, doc_id: str) -> Document | None:
        """The stored title, text and fields of a document, or None if it is not in the index."""
        return self.docs.document(doc_id)

    def field_kinds(self) -> dict[str, frozenset[str]]:
        """Each field some live document has, and the kinds of value it holds (``string``, ``number``, ...)."""
        with self._lock.reading(ANY_MODE):
            return self.docs.field_kinds()

    def check_filter(self, filter: FilterSpec) -> Filter | None:
        """``filter`` parsed and checked against this index's fields (see :mod:`textmetric.index.filters`)."""
        return checked_filter(filter, self.field_kinds)

    def embeddings(self, doc_ids: Sequence[str]) -> np.ndarray:
        """The stored vectors of ``doc_ids`` (normalised for the cosine space)."""
        return self.vectors.vectors(self.docs.labels(doc_ids))

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
        if documents is not None:
            check_fields(ids, documents)
        if not ids:
            return
        with self._lock.writing():
            self.vectors.delete(self.docs.labels(d for d in ids if d in self.docs))
            labels = np.arange(self.docs.next_label, self.docs.next_label + len(ids), dtype=np.int64)
            self.vectors.add(embeddings, labels)
            self.docs.add(labels, ids, documents)
            if self.lexical is not None:
                self.lexical.changed()

    def delete(self, ids: Iterable[str]) -> list[str]:
        """Delete documents by id; returns the ids that were not in the index (and so changed nothing)."""
        with self._lock.writing():
            removed, missing = self.docs.remove(ids)
            self.vectors.delete(removed)
            if removed and self.lexical is not None:
                self.lexical.changed()
        return missing

    # -- the lexical side ------------------------------------------------------------------------

    @property
    def lexical_settings(self) -> LexicalSettings | None:
        """The BM25 side's tokenisation and parameters, or None when the index has no lexical side."""
        return None if self.lexical is None else self.lexical.settings

    def enable_lexical(self, settings: LexicalSettings | None = None, *,
                       statistics: BM25Statistics | None = None) -> None:
        """Give the index a BM25 side over its live documents (or rebuild it with new ``settings``); scored
        with ``statistics`` when given, those of the whole collection this index is a shard of."""
        with self._lock.writing():
            side = LexicalSide(settings or LexicalSettings(), self._texts, statistics=statistics)
            side.current()  # build now: a bad setting (no stemmer) fails here, not at search time
            self.lexical = side

    def check_lexical(self, mode: str) -> None:
        """Refuse ``mode`` (lexical or hybrid) when the index has no lexical side, saying how to add one."""
        if self.lexical is None:
            raise InputError(f"{self._name_in_errors} has no lexical side (mode '{mode}' needs one): build an "
                             f"index with `textmetric index --lexical`, or add one with `textmetric index-lexical`")

    def search_lexical(self, query_texts: Sequence[str], k: int, *, filter: FilterSpec = None) -> list[Hits]:
        """Top ``k`` live documents per query by BM25, in trec_eval order; only documents sharing a term,
        and passing ``filter`` (which restricts the hits, not the BM25 statistics)."""
        if self.lexical is None:
            raise InputError("the index has no lexical side: build it with `textmetric index --lexical`, "
                             "or add one with `textmetric index-lexical`")
        spec = self.check_filter(filter)
        with self._lock.reading(ANY_MODE):
            # Row i of the lexical side is the i-th live label (both in label order).
            rows = None if spec is None else np.searchsorted(self.docs.live_labels(), self.docs.matching(spec))
            return self.lexical.search(query_texts, k, rows)


class Index(_Composite):
    """An HNSW graph over document embeddings, with the documents themselves and their ids.

    An index loaded from (or saved to) a folder remembers which generation of it it holds: :meth:`changed`
    tells a long-lived reader when a writer has saved a newer one, and :meth:`save` refuses to overwrite
    a generation it has not seen (that would drop the other writer's work).
    """

    vectors: HnswVectors
    _path: Path | None = None        # the folder as the caller named it (a symlink stays one)
    _generation: str | None = None   # the generation of it this index holds

    def __init__(self, dim: int, space: str = "cosine", *, model: dict | None = None, m: int = DEFAULT_M,
                 ef_construction: int = DEFAULT_EF_CONSTRUCTION, ef: int = DEFAULT_EF,
                 capacity: int = 1024) -> None:
        super().__init__(HnswVectors(dim, space, m=m, ef_construction=ef_construction, ef=ef, capacity=capacity),
                         DocStore(), model=model)

    @classmethod
    def of(cls, vectors: HnswVectors, docs: DocStore, *, model: dict | None = None,
           shard: tuple[int, int] | None = None, lexical: LexicalSettings | None = None,
           lexical_index: LexicalIndex | None = None) -> "Index":
        """An index of parts already made, as :meth:`load` reads them (``lexical_index``: the BM25 side
        of ``docs`` as it stands, built when first needed if not given)."""
        index = cls.__new__(cls)
        _Composite.__init__(index, vectors, docs, model=model, shard=shard, lexical=lexical,
                            lexical_index=lexical_index)
        return index

    @property
    def ef(self) -> int:
        """The default search depth (raised to k by a search that needs more)."""
        return self.vectors.ef

    @ef.setter
    def ef(self, value: int) -> None:
        self.vectors.ef = check_hnsw_setting("ef", value, MAX_EF)

    @property
    def m(self) -> int:
        return self.vectors.m

    @property
    def ef_construction(self) -> int:
        return self.vectors.ef_construction

    @property
    def element_count(self) -> int:
        """Vectors in the graph, deleted ones included (``compact`` drops those)."""
        return self.vectors.element_count

    def search(self, query_embeddings: np.ndarray, k: int, ef: int | None = None, *,
               filter: FilterSpec = None) -> list[Hits]:
        """Top ``k`` live documents per query, in trec_eval order (score descending, ties by id descending);
        only documents passing ``filter`` when one is given (:mod:`textmetric.index.filters`).

        ``k`` is clamped to the live (matching) document count and ``ef`` raised to at least
        ``k`` (hnswlib fails otherwise). Scores: cosine similarity for ``cosine``, the inner
        product for ``ip``, minus the squared distance for ``l2`` -- higher is closer. A
        filtered search scans the matching vectors -- the exact top ``k`` -- when that is
        cheaper than walking the graph (:func:`~textmetric.index.vectors.scan_is_cheaper`),
        and otherwise walks it with the filter inside (see :mod:`textmetric.index.vectors`).
        """
        queries = np.ascontiguousarray(query_embeddings, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise InputError(f"query embeddings of shape {queries.shape} do not fit an index of "
                             f"dimension {self.dim}")
        spec = self.check_filter(filter)
        k = min(k, len(self))
        if k < 1 or len(queries) == 0:
            return [[] for _ in range(len(queries))]
        ef = max(self.ef if ef is None else check_hnsw_setting("ef", ef, MAX_EF), k)
        with self._lock.reading(ef):
            if spec is None:
                labels, scores = self.vectors.search(queries, k, ef)
            else:
                allowed = self.docs.matching(spec)
                k = min(k, len(allowed))
                if k < 1:
                    return [[] for _ in range(len(queries))]
                labels, scores = self.vectors.search_among(queries, k, ef, allowed, len(self.docs),
                                                           self.docs.tie_rank())
            ids = self.docs.ids_by_label[labels]
        return sorted_rows(ids, scores)  # hnswlib sorts by score: only ties need the doc-id order

    def compact(self) -> "Index":
        """A new index holding only the live documents: reclaims the space deleted ones still take."""
        ids = self.ids
        fresh = Index(self.dim, self.space, model=self.model, m=self.m, ef_construction=self.ef_construction,
                      ef=self.ef, capacity=max(len(ids), 1))
        if ids:
            fresh.add(ids, self.embeddings(ids), [self.document(d) for d in ids])
        fresh._join_lexical(self.lexical_settings)  # built from the fresh documents when next needed
        fresh.shard = self.shard
        fresh._path, fresh._generation = self._path, self._generation  # saving it over a newer one is refused too
        return fresh

    # -- on disk ---------------------------------------------------------------------------------

    def manifest(self) -> dict:
        """What ``manifest.json`` records (without the file checksums that ``save`` adds)."""
        return self._manifest().to_dict()

    def _manifest(self) -> Manifest:
        v = self.vectors
        return Manifest(dim=self.dim, space=self.space, count=len(self), m=v.m, ef_construction=v.ef_construction,
                        ef=v.ef, elements=v.element_count, next_label=self.docs.next_label, seed=v.seed,
                        model=self.model, shard=self.shard, lexical=self.lexical_settings)

    @property
    def path(self) -> Path | None:
        """The folder this index was loaded from or last saved to (as the caller named it), or None."""
        return self._path

    @property
    def generation(self) -> str | None:
        """The generation of the folder this index was loaded from or last saved to (a hash of its
        manifest), or None for an index never on disk."""
        return self._generation

    def changed(self) -> bool:
        """Whether the folder this index was loaded from (or last saved to) holds another generation now: a
        long-lived reader reloads with :meth:`load` when it does. Reads only the small manifest."""
        return self._path is not None and folder_generation(self._path) != self._generation

    def save(self, path: str | os.PathLike, *, lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT) -> None:
        """Write the index folder atomically: a complete new folder is swapped in, or nothing changes.

        Holds the folder's writer lock (waiting ``lock_timeout`` seconds at most; None waits as long as it
        takes). A symlinked folder is written where the link points. Files of the old folder that are not
        the index's own are carried across (a collection's own are replaced with it), and its permissions
        kept. Saving over the folder this index was loaded from is refused if another writer has saved it
        since: hold :func:`write_lock` from load to save to change an index that other processes also change.
        """
        path = Path(path)
        with write_lock(path, lock_timeout) as target:
            check_replaceable(target)
            self._check_not_overtaken(target)
            from .collection import collection_entries

            replaced = {*INDEX_ENTRIES, *collection_entries(target)}  # a collection saved over is not carried
            with atomic_folder(target, carry=lambda name: name not in replaced) as tmp:
                with self._lock.reading(ANY_MODE):  # writing files leaves the graph alone: searches go on
                    self.vectors.save(tmp / GRAPH)
                    self.docs.save(tmp / DOCS)
                    lexical = [] if self.lexical is None else self.lexical.save(tmp / LEXICAL)
                    manifest = self._manifest()
                generation = write_manifest(tmp, manifest, [f"{LEXICAL}/{name}" for name in lexical])
        self._path, self._generation = path, generation

    def _check_not_overtaken(self, target: Path) -> None:
        if self._path is None or index_target(self._path) != target:
            return
        now = folder_generation(target)
        if now is not None and now != self._generation:
            raise InputError("another writer saved this index after it was loaded here: saving would drop that "
                             "writer's work. Load it again and redo the change (hold write_lock(path) from "
                             "loading to saving)", target)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Index":
        """Read an index folder, checking that manifest, graph and documents agree.

        Reads one whole generation even while writers swap new ones in (see :func:`read_generation`).
        A collection folder (shards and ``collection.json``) comes back as the
        :class:`~textmetric.index.shards.ShardedIndex` of its shards (see :mod:`textmetric.index.collection`).
        """
        path = Path(path)
        if (path / COLLECTION).is_file():
            from .collection import load_collection

            return load_collection(path)  # type: ignore[return-value]
        index = read_generation(path, cls._read)
        index._path = path
        return index

    @classmethod
    def _read(cls, folder: PinnedFolder) -> "Index":
        """The index in one pinned generation of its folder."""
        path, manifest = folder.path, folder.manifest
        kept = folder.verify(keep=[DOCS])
        header = HnswVectors.header(folder.file(GRAPH))
        if header is None:
            raise InputError(f"{GRAPH} is not an hnswlib graph", path)
        if header.elements != manifest.elements:
            raise InputError(f"{GRAPH} holds {header.elements} vectors but {MANIFEST} says {manifest.elements}", path)
        for what, found, recorded in (("dimension", header.dim, manifest.dim), ("M", header.m, manifest.m),
                                      ("ef_construction", header.ef_construction, manifest.ef_construction)):
            if found != recorded:
                raise InputError(f"{GRAPH} has {what} {found} but {MANIFEST} says {recorded}", path)
        if manifest.next_label < header.elements:
            raise InputError(f"{MANIFEST} says labels end before {manifest.next_label} but {GRAPH} holds "
                             f"{header.elements} vectors", path)
        vectors = HnswVectors.load(folder.file(GRAPH), manifest.dim, manifest.space, elements=manifest.elements,
                                   m=manifest.m, ef_construction=manifest.ef_construction, ef=manifest.ef,
                                   seed=manifest.seed, source=path / GRAPH)
        docs = DocStore.load(path / DOCS, manifest.next_label, data=kept[DOCS])
        if len(docs) != manifest.count:
            raise InputError(f"{DOCS} holds {len(docs)} documents but {MANIFEST} says {manifest.count}", path)
        top = max(docs.labels(docs.ids), default=-1)
        if top >= manifest.next_label:
            raise InputError(f"{DOCS} uses label {top} but {MANIFEST} says labels end before {manifest.next_label}",
                             path)
        lexical = None
        if manifest.lexical is not None:
            try:
                lexical = LexicalIndex.load(folder.folder(LEXICAL), manifest.lexical)
            except InputError as e:  # name the index's lexical/, not the pinned path it was read through
                raise InputError(e.problem.replace(str(folder.folder(LEXICAL)), str(path / LEXICAL)),
                                 path / LEXICAL) from None
            if lexical.ids != docs.ids:
                raise InputError(f"{LEXICAL}/ does not hold the same documents as {DOCS}", path)
        index = cls.of(vectors, docs, model=manifest.model, shard=manifest.shard, lexical=manifest.lexical,
                       lexical_index=lexical)
        index._generation = folder.generation
        return index


class ExactIndex(_Composite):
    """Every document's embedding in memory; a search scores them all, in trec_eval's order to the last tie."""

    vectors: ExactVectors
    _name_in_errors = "exact search"

    def __init__(self, ids: Sequence[str], embeddings: np.ndarray, space: str = "cosine",
                 documents: Sequence[Document] | None = None) -> None:
        check_space(space)
        if len(ids) != len(embeddings):
            raise ValueError(f"{len(ids)} ids for {len(embeddings)} embeddings")
        embeddings = np.asarray(embeddings, dtype=np.float32)
        if embeddings.ndim != 2:
            raise ValueError(f"expected a 2-d array of embeddings, got shape {embeddings.shape}")
        super().__init__(ExactVectors(embeddings.shape[1], space, capacity=len(ids)), DocStore())
        self.add(list(ids), embeddings, documents)

    @classmethod
    def build(cls, model: "Encoder | SentenceTransformer", corpus: CorpusSource, *, batch_size: int = 32,
              progress: bool = False) -> "ExactIndex":
        """Encode the corpus (any form ``load_corpus`` reads; ``Document.full_text``, with the document prompt)
        and hold the embeddings and the documents."""
        from ..encoding import Encoder

        corpus = load_corpus(corpus)
        encoder = Encoder.of(model)
        ids = list(corpus)
        embeddings = encoder.encode_documents([corpus[i].full_text for i in ids], batch_size=batch_size,
                                              progress=progress)
        return cls(ids, embeddings, space_of(encoder.model), [corpus[i] for i in ids])

    def search(self, query_embeddings: np.ndarray, k: int, chunk: int = 256, *,
               filter: FilterSpec = None) -> list[Hits]:
        """The top ``k`` documents per query, in trec_eval order; only documents passing ``filter`` when one is
        given (:mod:`textmetric.index.filters`); ``k`` is clamped to the (matching) corpus size."""
        queries = np.asarray(query_embeddings, dtype=np.float32)
        spec = self.check_filter(filter)
        k = min(k, len(self))
        if k < 1:
            return [[] for _ in range(len(queries))]
        with self._lock.reading():
            candidates = None if spec is None else self.docs.matching(spec)
            if candidates is not None:
                k = min(k, len(candidates))
                if k < 1:
                    return [[] for _ in range(len(queries))]
            labels, scores = self.vectors.search(queries, k, self.docs.tie_rank(), chunk, candidates)
            ids = self.docs.ids_by_label[labels]
        return list(map(list, map(zip, ids.tolist(), scores.tolist())))


def _duplicates(ids: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    return [i for i in ids if i in seen or seen.add(i)]
