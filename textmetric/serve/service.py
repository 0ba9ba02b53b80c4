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
from typing import Any, Mapping, Sequence

from ..data import load_corpus
from ..encoding import Encoder
from ..errors import InputError
from ..index.building import check_model, load_index_model
from ..search.fusion import FUSIONS
from ..search.results import query_record
from ..search.retriever import MODES, Retriever
from .batching import DEFAULT_MAX_BATCH, DEFAULT_MAX_WAIT, QueryBatcher
from .live import DEFAULT_LOCK_TIMEOUT, DEFAULT_POLL, LiveIndex, Snapshot
from .schema import MAX_BODY_BYTES, MAX_EF, MAX_K, MAX_QUERIES, MAX_QUERY_CHARS, DocumentIn, SearchRequest

__all__ = ["Service", "AtDepth", "version"]


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

    def modes(self, snapshot: Snapshot | None = None) -> list[str]:
        """The modes the index can serve: dense always; lexical and hybrid with a BM25 side."""
        index = (snapshot or self.live.current).index
        return [mode for mode in MODES if mode == "dense" or index.lexical_settings is not None]

    def summary(self) -> str:
        """One line: documents, model, backend, modes, and whether writes are on."""
        info = self.info()
        writes = "writes on (with the API key)" if info["writes"] else (
            "writes off (--api-key turns them on)" if self.live.writable else "writes off (several indexes)")
        return (f"{info['documents']:,} documents, model {info['model']['name']} ({info['model']['backend']}), "
                f"modes {', '.join(info['modes'])}; {writes}")

    def search(self, request: SearchRequest) -> dict:
        """The request's queries searched in the current index state: the answer of ``POST /search``."""
        start = time.perf_counter()
        snapshot = self.live.current
        index = snapshot.index if request.ef is None else AtDepth(snapshot.index, request.ef)
        retriever = Retriever(None if request.mode == "lexical" else self.encoder, index, mode=request.mode,
                              fusion=request.fusion, alpha=request.alpha, rrf_k=request.rrf_k, depth=request.depth,
                              batch_size=self.batch_size)
        spec = snapshot.index.check_filter(request.filter)  # a bad filter fails before any encoding
        queries = request.texts()
        embeddings, warnings = None, []
        with self.batcher.visit():
            if request.mode != "lexical":
                encoded = self.batcher.encode(list(queries.values()))
                embeddings = encoded.embeddings
                warnings = self._truncated(list(queries), encoded.lengths)
            run = retriever.search(queries, request.k, embeddings=embeddings, filter=spec)
            results = [query_record(qid, text, run[qid], snapshot.index, retriever.score_kind, request.snippet)
                       for qid, text in queries.items()]
        return {"score_kind": retriever.score_kind, "mode": request.mode, "k": request.k, "results": results,
                "warnings": warnings, "took_ms": round(1000 * (time.perf_counter() - start), 3),
                "state": snapshot.state}

    def _truncated(self, qids: list[str], lengths: list[int] | None) -> list[str]:
        limit = self.encoder.max_seq_length
        if lengths is None or not limit:
            return []
        return [f"query '{qid}' is {n:,} tokens long: truncated to the model's max_seq_length of {limit}"
                for qid, n in zip(qids, lengths) if n > limit]

    def document(self, doc_id: str) -> dict | None:
        """A document as the index holds it, or None: ``GET /documents/{id}``."""
        doc = self.live.current.index.document(doc_id)
        if doc is None:
            return None
        return {"doc_id": doc_id, "title": doc.title, "text": doc.text, "fields": doc.fields}

    def info(self) -> dict:
        """What is served: ``GET /info``."""
        snapshot = self.live.current
        index = snapshot.index
        model = index.model or {}
        record = {
            "version": version(),
            "documents": len(index),
            "indexes": [{"name": shard.path.name, "documents": len(shard),
                         "shard": None if shard.shard is None else f"{shard.shard[0]}/{shard.shard[1]}"}
                        for shard in snapshot.parts],
            "model": {"name": model.get("given_name") or model.get("name"), "backend": self.encoder.backend,
                      "dim": index.dim, "max_seq_length": self.encoder.max_seq_length,
                      "prompts": self.encoder.prompts},
            "space": index.space,
            "modes": self.modes(snapshot),
            "fusions": list(FUSIONS),
            "lexical": None if index.lexical_settings is None else _lexical(index.lexical_settings.to_dict()),
            "ef": index.ef,
            "generations": [part.generation for part in snapshot.parts],
            "writes": self.writes,
            "state": snapshot.state,
            "loaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(snapshot.loaded_at)),
            "reload_error": self.live.reload_error,
            "limits": {"max_k": MAX_K, "max_queries": MAX_QUERIES, "max_query_chars": MAX_QUERY_CHARS,
                       "max_ef": MAX_EF, "max_body_bytes": self.max_body_bytes},
            "batching": {"max_batch": self.batcher.max_batch, "max_wait_ms": 1000 * self.batcher.max_wait,
                         "batches": self.batcher.batches, "queries": self.batcher.texts},
        }
        return record

    # -- writing -----------------------------------------------------------------------------------

    def add(self, documents: Sequence[DocumentIn]) -> dict:
        """Add or replace documents, on disk before it returns: ``POST /documents``."""
        seen: set[str] = set()
        duplicates = [d.id for d in documents if d.id in seen or seen.add(d.id)]
        if duplicates:
            raise InputError(f"{len(duplicates)} duplicate id(s) in one request: {', '.join(duplicates[:5])}")
        corpus = load_corpus({d.id: d.record() for d in documents})  # read as a corpus file's records are
        added, replaced = self.live.add(corpus)
        snapshot = self.live.current
        return {"added": added, "replaced": replaced, "documents": len(snapshot.index),
                "state": snapshot.state}

    def delete(self, ids: Sequence[str]) -> dict:
        """Delete documents by id, on disk before it returns: ``DELETE /documents``."""
        missing = self.live.delete(list(ids))
        snapshot = self.live.current
        return {"deleted": len(set(ids)) - len(missing), "not_found": missing, "documents": len(snapshot.index),
                "state": snapshot.state}


def _lexical(settings: dict) -> dict:
    """The BM25 side's settings, its stop words counted rather than listed."""
    return {**settings, "stopwords": len(settings.get("stopwords") or ())}
