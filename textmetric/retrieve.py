"""Searching: a ``Retriever`` joins a model to an index and turns queries into a ranked run.

``ExactIndex`` is brute-force search over embeddings in memory, the reference
that an approximate (HNSW) index is measured against. Hits come back in
trec_eval's order: score descending (float32), ties by doc id descending.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Protocol, Sequence

import numpy as np

from .data import Corpus
from .errors import InputError
from .models import encode

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from .metrics import Run

__all__ = ["SPACES", "space_of", "ExactIndex", "Retriever", "Hits"]

SPACES = ("cosine", "ip", "l2")
Hits = list[tuple[str, float]]
_SPACE_OF_SIMILARITY = {"cosine": "cosine", "dot": "ip", "euclidean": "l2"}


def space_of(model: "SentenceTransformer") -> str:
    """The search space matching the model's own similarity function (cosine for most models)."""
    name = str(model.similarity_fn_name or "cosine")
    try:
        return _SPACE_OF_SIMILARITY[name]
    except KeyError:
        raise InputError(f"the model's similarity '{name}' has no search space "
                         f"(supported: {', '.join(_SPACE_OF_SIMILARITY)})") from None


class SearchIndex(Protocol):
    """What a ``Retriever`` needs of an index."""

    space: str

    def search(self, query_embeddings: np.ndarray, k: int) -> list[Hits]: ...


class ExactIndex:
    """Every document's embedding in memory; a search scores them all."""

    def __init__(self, ids: Sequence[str], embeddings: np.ndarray, space: str = "cosine") -> None:
        if space not in SPACES:
            raise InputError(f"unknown space '{space}' (expected one of {', '.join(SPACES)})")
        if len(ids) != len(embeddings):
            raise ValueError(f"{len(ids)} ids for {len(embeddings)} embeddings")
        self.ids = list(ids)
        self.space = space
        self.embeddings = _prepare(np.asarray(embeddings, dtype=np.float32), space)
        # Rank of each id in descending id order: the tie-break key, computed once.
        order = sorted(range(len(self.ids)), key=self.ids.__getitem__, reverse=True)
        self._id_rank = np.empty(len(self.ids), dtype=np.int64)
        self._id_rank[order] = np.arange(len(self.ids))
        self._sq_norms = (self.embeddings ** 2).sum(axis=1) if space == "l2" else None

    @classmethod
    def build(cls, model: "SentenceTransformer", corpus: Corpus, *, batch_size: int = 32,
              progress: bool = False) -> "ExactIndex":
        """Encode the corpus (``Document.full_text``) and hold the embeddings."""
        ids = list(corpus)
        embeddings = encode(model, [corpus[i].full_text for i in ids], batch_size=batch_size, progress=progress)
        return cls(ids, embeddings, space_of(model))

    def __len__(self) -> int:
        return len(self.ids)

    def scores(self, query_embeddings: np.ndarray) -> np.ndarray:
        """Similarity of each query to each document (higher is closer), float32."""
        q = _prepare(np.asarray(query_embeddings, dtype=np.float32), self.space)
        dots = q @ self.embeddings.T
        if self.space == "l2":  # negative squared distance, so that higher is closer
            return 2 * dots - (q ** 2).sum(axis=1, keepdims=True) - self._sq_norms[None, :]
        return dots

    def search(self, query_embeddings: np.ndarray, k: int, chunk: int = 256) -> list[Hits]:
        """The top ``k`` documents per query, in trec_eval order; ``k`` is clamped to the corpus size."""
        n = len(self.ids)
        k = min(k, n)
        results: list[Hits] = []
        for start in range(0, len(query_embeddings), chunk):
            for row in self.scores(query_embeddings[start:start + chunk]):
                if k < n:
                    kth = np.partition(row, n - k)[n - k]
                    candidates = np.flatnonzero(row >= kth)  # keeps every doc tied with the k-th
                else:
                    candidates = np.arange(n)
                order = np.lexsort((self._id_rank[candidates], -row[candidates]))[:k]
                top = candidates[order]
                results.append([(self.ids[i], float(row[i])) for i in top])
        return results


def _prepare(embeddings: np.ndarray, space: str) -> np.ndarray:
    if embeddings.ndim != 2:
        raise ValueError(f"expected a 2-d array of embeddings, got shape {embeddings.shape}")
    if space == "cosine":
        norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
        return np.ascontiguousarray(embeddings / np.maximum(norms, np.float32(1e-12)), dtype=np.float32)
    return np.ascontiguousarray(embeddings, dtype=np.float32)


class Retriever:
    """A model and an index: encodes queries and returns their ranked hits as a run."""

    def __init__(self, model: "SentenceTransformer", index: SearchIndex, *, batch_size: int = 32,
                 progress: bool = False) -> None:
        self.model = model
        self.index = index
        self.batch_size = batch_size
        self.progress = progress

    def search(self, queries: Mapping[str, str] | Sequence[str], k: int = 10) -> "Run":
        """``{query_id: {doc_id: score}}`` for the top ``k`` of each query (ids are positions for a list)."""
        if k < 1:
            raise InputError(f"k must be at least 1, got {k}")
        if isinstance(queries, Mapping):
            qids, texts = list(queries), list(queries.values())
        else:
            qids, texts = [str(i) for i in range(len(queries))], list(queries)
        embeddings = encode(self.model, texts, batch_size=self.batch_size, progress=self.progress)
        hits = self.index.search(embeddings, k) if len(texts) else []
        return {qid: dict(h) for qid, h in zip(qids, hits)}
