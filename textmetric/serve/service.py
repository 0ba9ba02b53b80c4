"""What the HTTP service does, as plain Python: search, documents by id, add, delete, info.

A thin shell over the library: a search is a :class:`Retriever` over the current snapshot
of the index with the queries' embeddings from the micro-batcher; writes go through
:class:`LiveIndex` (``add_documents`` / ``Index.delete`` and the folder swap). The HTTP
layer (``app.py``) only parses requests into the models of ``schema.py`` and turns
errors into status codes.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Mapping, Sequence

from ..data import Corpus, load_corpus
from ..encoding import Encoder
from ..errors import InputError
from ..index.collection import collection_writes, is_collection
from ..index.building import check_model, load_index_model
from ..search.fusion import FUSIONS
from ..search.results import query_record
from ..search.retriever import MODES, Retriever
from ..search.tuned_fusion import FUSION_OPTIONS, fusion_settings, tuned_fusion_of
from .batching import DEFAULT_MAX_BATCH, DEFAULT_MAX_WAIT, Encoded, QueryBatcher
from .live import DEFAULT_LOCK_TIMEOUT, DEFAULT_POLL, LiveIndex, Snapshot
from .schema import MAX_BODY_BYTES, MAX_EF, MAX_K, MAX_QUERIES, MAX_QUERY_CHARS, DocumentIn, SearchRequest

__all__ = ["Service", "AtDepth", "version", "search_answer", "truncation_warnings", "read_documents", "served_modes",
           "summary_line", "document_record", "index_entry", "limits", "lexical_info"]


def version() -> str:
    """textmetric's version, as the installed package records it (what ``textmetric --version`` says)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("textmetric")
    except PackageNotFoundError:
        return "unknown"


class AtDepth:
    """An index searched at HNSW depth ``ef``: one request's ``ef`` without changing the shared index's."""

    def __init__(self, index: Any, ef: int) -> None:
        self._index, self._ef = index, ef

    def search(self, query_embeddings, k: int, **options):
        return self._index.search(query_embeddings, k, ef=self._ef, **options)

    def __getattr__(self, name: str):
        return getattr(self._index, name)


class Service:
    """The loaded index folders, their model and the query batcher; what every endpoint calls.

    ``model``: None for the model the index records, a name or folder (checked against the
    index), or an :class:`Encoder` already loaded; ``encoding``: how to load it, as
    :func:`load_index_model` takes it (``backend``, ``workers``, ``max_seq_length``, ``prompts``,
    ``prompt_names``; the index's by default). Writes are allowed only with an ``api_key``, and wait
    ``lock_timeout`` seconds at most for another process's writer lock.
    """

    def __init__(self, indexes: str | os.PathLike | Sequence[str | os.PathLike], *,
                 model: "str | os.PathLike | Encoder | None" = None, encoding: Mapping[str, Any] | None = None,
                 api_key: str | None = None, max_batch: int = DEFAULT_MAX_BATCH, max_wait: float = DEFAULT_MAX_WAIT,
                 poll: float = DEFAULT_POLL, batch_size: int = 32, max_body_bytes: int = MAX_BODY_BYTES,
                 lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT) -> None:
        paths = [indexes] if isinstance(indexes, (str, os.PathLike)) else list(indexes)
        if api_key is not None and not api_key.strip():
            raise InputError("the API key is empty")
        self.api_key = api_key
        self.max_body_bytes = max_body_bytes
        self.batch_size = batch_size
        self.live = LiveIndex(paths, poll=poll, batch_size=batch_size, lock_timeout=lock_timeout)
        index = self.live.current.index
        if isinstance(model, Encoder):
            check_model(index, model)
            self.encoder = model
        else:
            self.encoder = load_index_model(index, model, **(encoding or {}))
        self.live.encoder = self.encoder
        # The fusion `textmetric train --tune-fusion` kept in the model folder, as `textmetric search` uses it.
        self.tuned_fusion = tuned_fusion_of(index.model, self.encoder if isinstance(model, Encoder) else model)
        self.batcher = QueryBatcher(self.encoder, max_batch=max_batch, max_wait=max_wait, batch_size=batch_size)

    # -- lifetime ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Watch the index folders for changes made by other processes."""
        self.live.start()

    def stop(self) -> None:
        """Stop watching and encoding; requests still waiting for an encode get theirs first."""
        self.live.stop()
        self.batcher.close()

    # -- reading -----------------------------------------------------------------------------------

    @property
    def writes(self) -> bool:
        """Whether the write endpoints are on: an API key was given and there is one index to write."""
        return self.api_key is not None and self.live.writable

    @property
    def writes_refused(self) -> str | None:
        """Why writes cannot be made even with the key: several indexes searched together, or a collection's
        shards; or None."""
        if self.live.writable:
            return None
        if is_collection(self.live.paths[0]):
            return collection_writes(self.live.paths[0], "the service's writes go to")
        return f"writes need one index: this service searches {len(self.live.paths)} together"

    def modes(self, snapshot: Snapshot | None = None) -> list[str]:
        """The modes the index can serve: dense always; lexical and hybrid with a BM25 side."""
        return served_modes((snapshot or self.live.current).index)

    def summary(self) -> str:
        """One line: documents, model, backend, modes, and whether writes are on."""
        return summary_line(self.info(), None if self.live.writable else
                            "a collection" if is_collection(self.live.paths[0]) else "several indexes")

    def search(self, request: SearchRequest) -> dict:
        """The request's queries searched in the current index state: the answer of ``POST /search``."""
        snapshot = self.live.current
        with self.batcher.visit():
            return search_answer(request, snapshot.index, self.batcher.encode, self.encoder.max_seq_length,
                                 state=snapshot.state, batch_size=self.batch_size, tuned_fusion=self.tuned_fusion)

    def document(self, doc_id: str) -> dict | None:
        """A document as the index holds it, or None: ``GET /documents/{id}``."""
        return document_record(doc_id, self.live.current.index.document(doc_id))

    def info(self) -> dict:
        """What is served: ``GET /info``."""
        snapshot = self.live.current
        index = snapshot.index
        model = index.model or {}
        record = {
            "version": version(),
            "documents": len(index),
            "indexes": [index_entry(shard.path.name, len(shard), shard.shard) for shard in snapshot.parts],
            "model": {"name": model.get("given_name") or model.get("name"), "backend": self.encoder.backend,
                      "dim": index.dim, "max_seq_length": self.encoder.max_seq_length,
                      "prompts": self.encoder.prompts},
            "space": index.space,
            "modes": self.modes(snapshot),
            "fusions": list(FUSIONS),
            "lexical": lexical_info(index.lexical_settings),
            "ef": index.ef,
            "generations": [part.generation for part in snapshot.parts],
            "writes": self.writes,
            "state": snapshot.state,
            "loaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(snapshot.loaded_at)),
            "reload_error": self.live.reload_error,
            "limits": limits(self.max_body_bytes),
            "batching": {"max_batch": self.batcher.max_batch, "max_wait_ms": 1000 * self.batcher.max_wait,
                         "batches": self.batcher.batches, "queries": self.batcher.texts},
        }
        return record

    # -- writing -----------------------------------------------------------------------------------

    def add(self, documents: Sequence[DocumentIn]) -> dict:
        """Add or replace documents, on disk before it returns: ``POST /documents``."""
        added, replaced = self.live.add(read_documents(documents))
        snapshot = self.live.current
        return {"added": added, "replaced": replaced, "documents": len(snapshot.index),
                "state": snapshot.state}

    def delete(self, ids: Sequence[str]) -> dict:
        """Delete documents by id, on disk before it returns: ``DELETE /documents``."""
        missing = self.live.delete(list(ids))
        snapshot = self.live.current
        return {"deleted": len(set(ids)) - len(missing), "not_found": missing, "documents": len(snapshot.index),
                "state": snapshot.state}


# -- what every backend of the service shares ---------------------------------------------------------


def search_answer(request: SearchRequest, index: Any, encode: Callable[[list[str]], Encoded],
                  max_seq_length: int | None, *, state: int, batch_size: int = 32,
                  tuned_fusion: Mapping | None = None) -> dict:
    """The answer of ``POST /search``: ``request``'s queries, encoded by ``encode``, searched in ``index`` by a
    :class:`Retriever` (the one place modes and fusions are applied), each hit with its document. A request
    that names no fusion option fuses by ``tuned_fusion`` (the model folder's, as ``textmetric search``)."""
    start = time.perf_counter()
    fusion = {"fusion": request.fusion, "alpha": request.alpha, "rrf_k": request.rrf_k}
    if tuned_fusion is not None and not request.model_fields_set & set(FUSION_OPTIONS):
        fusion.update(fusion_settings(tuned_fusion))
    retriever = Retriever(None, index if request.ef is None else AtDepth(index, request.ef), mode=request.mode,
                          depth=request.depth, batch_size=batch_size, **fusion)
    spec = index.check_filter(request.filter)  # a bad filter fails before any encoding
    queries = request.texts()
    embeddings, warnings = None, []
    if request.mode != "lexical":
        encoded = encode(list(queries.values()))
        embeddings = encoded.embeddings
        warnings = truncation_warnings(list(queries), encoded.lengths, max_seq_length)
    run = retriever.search(queries, request.k, embeddings=embeddings, filter=spec)
    documents = index if request.with_documents else None
    results = [query_record(qid, text, run[qid], documents, retriever.score_kind, request.snippet)
               for qid, text in queries.items()]
    return {"score_kind": retriever.score_kind, "mode": request.mode, "k": request.k, "results": results,
            "warnings": warnings, "took_ms": round(1000 * (time.perf_counter() - start), 3), "state": state}


def truncation_warnings(qids: list[str], lengths: list[int] | None, limit: int | None) -> list[str]:
    """One warning per query longer than the model's ``limit`` in tokens (``lengths`` before truncation)."""
    if lengths is None or not limit:
        return []
    return [f"query '{qid}' is {n:,} tokens long: truncated to the model's max_seq_length of {limit}"
            for qid, n in zip(qids, lengths) if n > limit]


def read_documents(documents: Sequence[DocumentIn]) -> Corpus:
    """The documents of an add request as a corpus, read as a corpus file's records are; duplicate ids refused."""
    seen: set[str] = set()
    duplicates = [d.id for d in documents if d.id in seen or seen.add(d.id)]
    if duplicates:
        raise InputError(f"{len(duplicates)} duplicate id(s) in one request: {', '.join(duplicates[:5])}")
    return load_corpus({d.id: d.record() for d in documents})


def served_modes(index: Any) -> list[str]:
    """The modes ``index`` can serve: dense always; lexical and hybrid with a BM25 side."""
    return [mode for mode in MODES if mode == "dense" or index.lexical_settings is not None]


def summary_line(info: dict, writes_off: str | None) -> str:
    """One line from ``GET /info``: documents, model, backend, modes, and whether writes are on (``writes_off``:
    why not even with a key, or None)."""
    writes = "writes on (with the API key)" if info["writes"] else (
        "writes off (--api-key turns them on)" if writes_off is None else f"writes off ({writes_off})")
    return (f"{info['documents']:,} documents, model {info['model']['name']} ({info['model']['backend']}), "
            f"modes {', '.join(info['modes'])}; {writes}")


def document_record(doc_id: str, doc: Any) -> dict | None:
    """A document as ``GET /documents/{id}`` answers it, or None when there is none."""
    if doc is None:
        return None
    return {"doc_id": doc_id, "title": doc.title, "text": doc.text, "fields": doc.fields}


def index_entry(name: str, documents: int, shard: tuple[int, int] | None) -> dict:
    """One served index folder as ``GET /info`` lists it."""
    return {"name": name, "documents": documents, "shard": None if shard is None else f"{shard[0]}/{shard[1]}"}


def limits(max_body_bytes: int) -> dict:
    """The limits a request must keep, as ``GET /info`` lists them."""
    return {"max_k": MAX_K, "max_queries": MAX_QUERIES, "max_query_chars": MAX_QUERY_CHARS, "max_ef": MAX_EF,
            "max_body_bytes": max_body_bytes}


def lexical_info(settings: Any) -> dict | None:
    """The BM25 side's settings, its stop words counted rather than listed; None without a BM25 side."""
    if settings is None:
        return None
    settings = settings.to_dict()
    return {**settings, "stopwords": len(settings.get("stopwords") or ())}
