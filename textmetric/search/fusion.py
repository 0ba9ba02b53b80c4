"""Fusing rankings of one query: reciprocal rank fusion, and a normalised score combination.

Each input is one query's hits in trec_eval order (best first); each output is a
new list of hits in trec_eval order: fused score descending (compared as float32),
ties by doc id descending. Pure functions, no model, no index.
"""

from __future__ import annotations

from typing import Sequence

from ..errors import Range
from .ranking import Hits, ordered

__all__ = ["reciprocal_rank_fusion", "score_fusion", "FUSIONS", "DEFAULT_FUSION", "DEFAULT_RRF_K", "DEFAULT_ALPHA",
           "RRF_K_RANGE", "ALPHA_RANGE"]

FUSIONS = ("rrf", "score")
# Convex score fusion beat RRF on the train queries of every collection measured (benchmarks/fusion.py), as
# Bruch, Gai and Ingber (2023) found across BEIR; RRF discards the score gaps that carry the evidence.
DEFAULT_FUSION = "score"
DEFAULT_RRF_K = 60     # Cormack, Clarke & Buettcher (SIGIR 2009): robust across collections, no tuning
DEFAULT_ALPHA = 0.5    # equal weight to each side: no collection's preference built in
RRF_K_RANGE = Range(0)
ALPHA_RANGE = Range(0, 1)

def reciprocal_rank_fusion(rankings: Sequence[Hits], k: float = DEFAULT_RRF_K) -> Hits:
    """RRF: ``score(d) = sum over the rankings that contain d of 1 / (k + rank_i(d))``, ranks from 1.

    Only ranks count, never scores, so sides with incomparable scores (cosine,
    BM25) fuse without calibration; a larger ``k`` flattens the head of each ranking.
    """
    RRF_K_RANGE.check("k", k, "--rrf-k")
    fused: dict[str, float] = {}
    for hits in rankings:
        for position, (doc_id, _) in enumerate(hits, start=1):
            fused[doc_id] = fused.get(doc_id, 0.0) + 1.0 / (k + position)
    return ordered(fused)


def score_fusion(dense: Hits, lexical: Hits, alpha: float = DEFAULT_ALPHA) -> Hits:
    """Convex combination: ``score(d) = alpha * norm(dense)(d) + (1 - alpha) * norm(lexical)(d)``.

    ``norm`` is min-max normalisation over that side's candidates for this query,
    ``(s - min) / (max - min)``, so each side spans [0, 1] (a side whose candidates
    all score alike gives them 1); a document missing from a side gets 0 there.
    ``alpha = 1`` keeps the dense order, ``alpha = 0`` the lexical one.
    """
    ALPHA_RANGE.check("alpha", alpha)
    fused: dict[str, float] = {}
    for weight, hits in ((alpha, dense), (1.0 - alpha, lexical)):
        for doc_id, value in _min_max(hits).items():
            fused[doc_id] = fused.get(doc_id, 0.0) + weight * value
        for doc_id, _ in hits:
            fused.setdefault(doc_id, 0.0)
    return ordered(fused)


def _min_max(hits: Hits) -> dict[str, float]:
    if not hits:
        return {}
    scores = [float(s) for _, s in hits]
    low, high = min(scores), max(scores)
    if high == low:
        return {doc_id: 1.0 for doc_id, _ in hits}
    return {doc_id: (float(s) - low) / (high - low) for doc_id, s in hits}
