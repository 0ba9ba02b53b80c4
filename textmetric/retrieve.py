"""Searching: a ``Retriever`` joins a model to an index and turns queries into a ranked run.

``ExactIndex`` is brute-force search over embeddings in memory, the reference
that an approximate (HNSW) index is measured against. Hits come back in
trec_eval's order: score descending (float32), ties by doc id descending.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Protocol, Sequence

import numpy as np

from .data import CorpusSource, load_corpus, number_queries
from .errors import InputError
from .fusion import DEFAULT_ALPHA, DEFAULT_RRF_K, FUSIONS, reciprocal_rank_fusion, score_fusion
from .models import encode

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from .metrics import Run

__all__ = ["SPACES", "MODES", "DEFAULT_DEPTH", "space_of", "ExactIndex", "Retriever", "Hits", "id_ranks",
           "top_hits"]

SPACES = ("cosine", "ip", "l2")
MODES = ("dense", "lexical", "hybrid")
DEFAULT_DEPTH = 100  # candidates taken from each side before fusing
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
    """What a ``Retriever`` needs of an index (``lexical`` and ``hybrid`` modes also call
    ``search_lexical(query_texts, k)`` and read ``lexical_settings``, which ``Index`` has)."""

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
        self._id_rank = id_ranks(self.ids)  # the tie-break key, computed once
        self._sq_norms = (self.embeddings ** 2).sum(axis=1) if space == "l2" else None

    @classmethod
    def build(cls, model: "SentenceTransformer", corpus: CorpusSource, *, batch_size: int = 32,
              progress: bool = False) -> "ExactIndex":
        """Encode the corpus (any form ``load_corpus`` reads; ``Document.full_text``) and hold the embeddings."""
        corpus = load_corpus(corpus)
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
        everything = np.arange(n)
        for start in range(0, len(query_embeddings), chunk):
            for row in self.scores(query_embeddings[start:start + chunk]):
                results.append(top_hits(row, everything, k, self.ids, self._id_rank))
        return results


def id_ranks(ids: Sequence[str]) -> np.ndarray:
    """Each id's position in descending id order (byte order): trec_eval's tie-break, as an array key."""
    order = sorted(range(len(ids)), key=ids.__getitem__, reverse=True)
    ranks = np.empty(len(ids), dtype=np.int64)
    ranks[order] = np.arange(len(ids))
    return ranks


def top_hits(scores: np.ndarray, candidates: np.ndarray, k: int, ids: Sequence[str], id_rank: np.ndarray) -> Hits:
    """The ``k`` best of ``candidates`` (positions into ``scores`` and ``ids``), in trec_eval order.

    Score descending, ties by doc id descending (``id_rank`` from :func:`id_ranks`);
    every candidate tied with the k-th is kept for the sort, so the cut is trec_eval's too.
    """
    k = min(k, len(candidates))
    if k < 1:
        return []
    values = scores[candidates]
    if k < len(candidates):
        kth = np.partition(values, len(values) - k)[len(values) - k]
        keep = np.flatnonzero(values >= kth)
        candidates, values = candidates[keep], values[keep]
    order = np.lexsort((id_rank[candidates], -values))[:k]
    return [(ids[i], float(scores[i])) for i in candidates[order].tolist()]


def _prepare(embeddings: np.ndarray, space: str) -> np.ndarray:
    if embeddings.ndim != 2:
        raise ValueError(f"expected a 2-d array of embeddings, got shape {embeddings.shape}")
    if space == "cosine":
        norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
        return np.ascontiguousarray(embeddings / np.maximum(norms, np.float32(1e-12)), dtype=np.float32)
    return np.ascontiguousarray(embeddings, dtype=np.float32)


class Retriever:
    """A model and an index: turns queries into a ranked run, by one of three modes.

    ``dense`` (the default): the model's embeddings searched in ``index``.
    ``lexical``: the index's BM25 side alone (no model needed; pass ``None``).
    ``hybrid``: the top ``depth`` of each side fused -- ``fusion="rrf"``, reciprocal
    rank fusion with constant ``rrf_k``, or ``"score"``, min-max normalised scores
    mixed as ``alpha * dense + (1 - alpha) * lexical`` (see :mod:`textmetric.fusion`);
    the run keeps the top ``k`` of the fused list, so at most ``2 * depth`` documents.
    """

    def __init__(self, model: "SentenceTransformer | None", index: SearchIndex, *, mode: str = "dense",
                 fusion: str = "rrf", alpha: float = DEFAULT_ALPHA, rrf_k: float = DEFAULT_RRF_K,
                 depth: int = DEFAULT_DEPTH, batch_size: int = 32, progress: bool = False) -> None:
        if mode not in MODES:
            raise InputError(f"unknown mode '{mode}' (expected one of {', '.join(MODES)})")
        if fusion not in FUSIONS:
            raise InputError(f"unknown fusion '{fusion}' (expected one of {', '.join(FUSIONS)})")
        if not 0.0 <= alpha <= 1.0:
            raise InputError(f"alpha must lie in [0, 1], got {alpha}")
        if rrf_k < 0:
            raise InputError(f"the RRF constant k must be at least 0, got {rrf_k}")
        if depth < 1:
            raise InputError(f"depth must be at least 1, got {depth}")
        if mode != "dense" and getattr(index, "lexical_settings", None) is None:
            what = "exact search has" if isinstance(index, ExactIndex) else "this index has"
            raise InputError(f"{what} no lexical side (mode '{mode}' needs one): build an index with "
                             f"`textmetric index --lexical`, or add one with `textmetric index-lexical`")
        if mode != "lexical" and model is None:
            raise InputError(f"mode '{mode}' needs a model to encode the queries")
        self.model = model
        self.index = index
        self.mode, self.fusion, self.alpha, self.rrf_k, self.depth = mode, fusion, alpha, rrf_k, depth
        self.batch_size = batch_size
        self.progress = progress

    @property
    def score_kind(self) -> str:
        """What a hit's score is: the index's space for dense search (``cosine``, ``ip`` inner product,
        ``l2`` minus the squared distance), ``bm25``, or the fusion's (``rrf``, ``score-fusion``)."""
        if self.mode == "dense":
            return self.index.space
        if self.mode == "lexical":
            return "bm25"
        return "rrf" if self.fusion == "rrf" else "score-fusion"

    def search(self, queries: Mapping[str, str] | Sequence[str], k: int = 10,
               embeddings: np.ndarray | None = None) -> "Run":
        """``{query_id: {doc_id: score}}`` for the top ``k`` of each query (a list's ids are its positions, from "0").

        ``embeddings``: the queries already encoded by this model, so that several searches
        of the same queries (other modes, a recall check) encode them once.
        """
        if k < 1:
            raise InputError(f"k must be at least 1, got {k}")
        if isinstance(queries, Mapping):
            qids, texts = list(queries), list(queries.values())
        else:
            qids, texts = list(number_queries(queries)), list(queries)
        hits = self.hits(texts, k, embeddings) if texts else []
        return {qid: dict(h) for qid, h in zip(qids, hits)}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """The queries' embeddings by this retriever's model."""
        return encode(self.model, list(texts), batch_size=self.batch_size, progress=self.progress)

    def hits(self, texts: Sequence[str], k: int, embeddings: np.ndarray | None = None) -> list[Hits]:
        """Each query's top ``k`` hits, in trec_eval order, by this retriever's mode."""
        if self.mode == "lexical":
            return self.index.search_lexical(texts, k)
        if embeddings is None:
            embeddings = self.encode(texts)
        if self.mode == "dense":
            return self.index.search(embeddings, k)
        dense = self.index.search(embeddings, self.depth)
        lexical = self.index.search_lexical(texts, self.depth)
        if self.fusion == "rrf":
            return [reciprocal_rank_fusion([d, s], self.rrf_k)[:k] for d, s in zip(dense, lexical)]
        return [score_fusion(d, s, self.alpha)[:k] for d, s in zip(dense, lexical)]
