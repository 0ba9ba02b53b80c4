"""Searching: a ``Retriever`` joins a model to an index and turns queries into a ranked run.

The index is anything that satisfies the protocols of :mod:`textmetric.index.protocols`
(HNSW, exact, shards searched together): dense mode asks it for the nearest documents
to the query embeddings, lexical mode for BM25 hits, hybrid mode for both, fused
(:mod:`textmetric.search.fusion`). Hits come back in trec_eval's order
(:mod:`textmetric.search.ranking`), and the run keeps that order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from ..data import number_queries
from ..errors import InputError
from ..encoding import Encoder
from ..index.filters import FilterSpec
from .fusion import (ALPHA_RANGE, DEFAULT_ALPHA, DEFAULT_FUSION, DEFAULT_RRF_K, FUSIONS, RRF_K_RANGE,
                     reciprocal_rank_fusion, score_fusion)
from .ranking import Hits, Run

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from ..index.protocols import SearchIndex

__all__ = ["MODES", "DEFAULT_MODE", "DEFAULT_TOP_K", "DEFAULT_DEPTH", "Retriever"]

MODES = ("dense", "lexical", "hybrid")
DEFAULT_MODE = "dense"
DEFAULT_TOP_K = 10  # hits per query a search returns
DEFAULT_DEPTH = 100  # candidates taken from each side before fusing


class Retriever:
    """A model and an index: turns queries into a ranked run, by one of three modes.

    ``dense`` (the default): the model's embeddings searched in ``index``.
    ``lexical``: the index's BM25 side alone (no model needed; pass ``None``). Without a model, the other
    modes search only queries whose embeddings are given (a service that encodes them elsewhere).
    ``hybrid``: the top ``depth`` of each side fused -- ``fusion="rrf"``, reciprocal
    rank fusion with constant ``rrf_k``, or ``"score"``, min-max normalised scores
    mixed as ``alpha * dense + (1 - alpha) * lexical`` (see :mod:`textmetric.search.fusion`);
    the run keeps the top ``k`` of the fused list, so at most ``2 * depth`` documents.
    """

    def __init__(self, model: "Encoder | SentenceTransformer | None", index: "SearchIndex", *, mode: str = DEFAULT_MODE,
                 fusion: str = DEFAULT_FUSION, alpha: float = DEFAULT_ALPHA, rrf_k: float = DEFAULT_RRF_K,
                 depth: int = DEFAULT_DEPTH, batch_size: int = 32, progress: bool = False) -> None:
        if mode not in MODES:
            raise InputError(f"unknown mode '{mode}' (expected one of {', '.join(MODES)})")
        if fusion not in FUSIONS:
            raise InputError(f"unknown fusion '{fusion}' (expected one of {', '.join(FUSIONS)})")
        ALPHA_RANGE.check("alpha", alpha)
        RRF_K_RANGE.check("rrf_k", rrf_k)
        if depth < 1:
            raise InputError(f"depth must be at least 1, got {depth}")
        if mode != "dense":
            index.check_lexical(mode)
        self.encoder = None if model is None else Encoder.of(model)
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

    def search(self, queries: Mapping[str, str] | Sequence[str], k: int = DEFAULT_TOP_K,
               embeddings: np.ndarray | None = None, *, filter: FilterSpec = None) -> "Run":
        """``{query_id: {doc_id: score}}`` for the top ``k`` of each query (a list's ids are its positions, from "0").

        ``embeddings``: the queries already encoded by this model, so that several searches
        of the same queries (other modes, a recall check) encode them once. ``filter``: only
        documents whose fields pass it (:mod:`textmetric.index.filters`), in every mode.
        """
        if k < 1:
            raise InputError(f"k must be at least 1, got {k}")
        filter = self.index.check_filter(filter)  # a bad filter fails before any encoding
        if isinstance(queries, Mapping):
            qids, texts = list(queries), list(queries.values())
        else:
            qids, texts = list(number_queries(queries)), list(queries)
        hits = self.hits(texts, k, embeddings, filter=filter) if texts else []
        return {qid: dict(h) for qid, h in zip(qids, hits)}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """The queries' embeddings by this retriever's encoder (with its query prompt)."""
        if self.encoder is None:
            raise InputError(f"mode '{self.mode}' needs a model to encode the queries (or their embeddings)")
        return self.encoder.encode_queries(list(texts), batch_size=self.batch_size, progress=self.progress)

    def hits(self, texts: Sequence[str], k: int, embeddings: np.ndarray | None = None, *,
             filter: FilterSpec = None) -> list[Hits]:
        """Each query's top ``k`` hits, in trec_eval order, by this retriever's mode; only documents passing
        ``filter`` (hybrid: each side filtered before the fusion)."""
        filter = self.index.check_filter(filter)
        if self.mode == "lexical":
            return self.index.search_lexical(texts, k, filter=filter)
        if embeddings is None:
            embeddings = self.encode(texts)
        if self.mode == "dense":
            return self.index.search(embeddings, k, filter=filter)
        dense = self.index.search(embeddings, self.depth, filter=filter)
        lexical = self.index.search_lexical(texts, self.depth, filter=filter)
        if self.fusion == "rrf":
            return [reciprocal_rank_fusion([d, s], self.rrf_k)[:k] for d, s in zip(dense, lexical)]
        return [score_fusion(d, s, self.alpha)[:k] for d, s in zip(dense, lexical)]
