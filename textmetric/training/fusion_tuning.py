"""The hybrid fusion best on a dev split, for ``textmetric train --tune-fusion``.

How much weight the dense side deserves depends on the model and the collection (Bruch, Gai and
Ingber, "An Analysis of Fusion Functions for Hybrid Retrieval", TOIS 2023: a convex combination
of normalised scores, its weight tuned on a few queries, beats RRF). RRF and the convex
combination at each ``alpha`` of :data:`ALPHA_GRID` are scored on the dev queries; the best is
kept in the model folder (``search/tuned_fusion.py`` reads it back for hybrid search).
"""

from __future__ import annotations

from typing import Mapping, Sequence

from ..evaluation.metrics import evaluate
from ..search.fusion import DEFAULT_ALPHA, DEFAULT_FUSION, DEFAULT_RRF_K, reciprocal_rank_fusion, score_fusion
from ..search.ranking import Hits
from ..search.tuned_fusion import TUNING_METRIC

__all__ = ["ALPHA_GRID", "tune_fusion"]

ALPHA_GRID = tuple(round(0.1 * step, 1) for step in range(11))  # 0, 0.1, …, 1: both single sides included


def tune_fusion(dense: Sequence[Hits], lexical: Sequence[Hits], query_ids: Sequence[str],
                qrels: Mapping[str, Mapping[str, int]], grid: Sequence[float] = ALPHA_GRID,
                rrf_k: float = DEFAULT_RRF_K) -> dict:
    """The fusion best on these queries by nDCG@10: RRF with ``rrf_k``, or score fusion at an ``alpha`` of ``grid``.

    ``dense`` and ``lexical`` are each query's candidates from the two sides (same order as
    ``query_ids``). Ties go to the library's default fusion (score fusion at ``DEFAULT_ALPHA``), then to the
    alpha nearest it, then to RRF: a tie is no evidence against the default.
    Returns the record :data:`FUSION_FILE` holds.
    """
    def score(fused: list[Hits]) -> float:
        run = {q: dict(hits[:100]) for q, hits in zip(query_ids, fused)}
        return float(evaluate(run, dict(qrels), [TUNING_METRIC]).means[TUNING_METRIC])

    pairs = list(zip(dense, lexical))
    rrf = score([reciprocal_rank_fusion([d, s], rrf_k) for d, s in pairs])
    by_alpha = {float(a): score([score_fusion(d, s, float(a)) for d, s in pairs]) for a in sorted(set(grid))}
    options = [({"fusion": "score", "alpha": a, "rrf_k": None}, value) for a, value in by_alpha.items()]
    options.append(({"fusion": "rrf", "alpha": None, "rrf_k": rrf_k}, rrf))

    def preferred(option: tuple[dict, float]) -> tuple:
        setting, value = option
        default = setting["fusion"] == DEFAULT_FUSION and setting["alpha"] in (None, DEFAULT_ALPHA)
        nearness = -abs(setting["alpha"] - DEFAULT_ALPHA) if setting["fusion"] == "score" else float("-inf")
        return value, default, nearness

    chosen, best = max(options, key=preferred)
    return {**chosen, "metric": TUNING_METRIC, "dev_score": best, "dev_rrf": rrf,
            "dev_by_alpha": {f"{a:g}": v for a, v in by_alpha.items()}, "dev_queries": len(query_ids)}
