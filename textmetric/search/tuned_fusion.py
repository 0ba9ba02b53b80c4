"""Hybrid fusion settings chosen on a dev split when a model is trained, kept in its folder for hybrid search.

How much weight the dense side deserves depends on the model and the collection (Bruch, Gai and
Ingber, "An Analysis of Fusion Functions for Hybrid Retrieval", TOIS 2023: a convex combination
of normalised scores, with its weight tuned on a few queries, beats RRF). ``textmetric train
--tune-fusion`` scores RRF and the convex combination at each ``alpha`` of :data:`ALPHA_GRID` on
the dev split (BM25 built over the dev corpus) and writes the best as :data:`FUSION_FILE` in the
model folder; a hybrid search whose model folder has one uses it unless told otherwise.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping, Sequence

from ..errors import InputError
from .fusion import ALPHA_RANGE, DEFAULT_RRF_K, FUSIONS, RRF_K_RANGE, reciprocal_rank_fusion, score_fusion
from .ranking import Hits

__all__ = ["FUSION_FILE", "ALPHA_GRID", "TUNING_METRIC", "tune_fusion", "read_tuned_fusion", "fusion_settings",
           "describe_tuned_fusion"]

FUSION_FILE = "fusion.json"
ALPHA_GRID = tuple(round(0.1 * step, 1) for step in range(11))  # 0, 0.1, …, 1: both single sides included
TUNING_METRIC = "ndcg@10"


def tune_fusion(dense: Sequence[Hits], lexical: Sequence[Hits], query_ids: Sequence[str],
                qrels: Mapping[str, Mapping[str, int]], grid: Sequence[float] = ALPHA_GRID,
                rrf_k: float = DEFAULT_RRF_K) -> dict:
    """The fusion best on these queries by nDCG@10: RRF with ``rrf_k``, or score fusion at an ``alpha`` of ``grid``.

    ``dense`` and ``lexical`` are each query's candidates from the two sides (same order as
    ``query_ids``). Ties go to RRF (the default, which needs no tuning), then to the smaller alpha.
    Returns the record :data:`FUSION_FILE` holds.
    """
    from ..evaluation.metrics import evaluate

    def score(fused: list[Hits]) -> float:
        run = {q: dict(hits[:100]) for q, hits in zip(query_ids, fused)}
        return float(evaluate(run, dict(qrels), [TUNING_METRIC]).means[TUNING_METRIC])

    pairs = list(zip(dense, lexical))
    rrf = score([reciprocal_rank_fusion([d, s], rrf_k) for d, s in pairs])
    by_alpha = {float(a): score([score_fusion(d, s, float(a)) for d, s in pairs]) for a in sorted(set(grid))}
    best_alpha = max(by_alpha, key=lambda a: (by_alpha[a], -a))
    chosen = ({"fusion": "rrf", "alpha": None, "rrf_k": rrf_k} if rrf >= by_alpha[best_alpha]
              else {"fusion": "score", "alpha": best_alpha, "rrf_k": None})
    return {**chosen, "metric": TUNING_METRIC, "dev_score": max(rrf, by_alpha[best_alpha]), "dev_rrf": rrf,
            "dev_by_alpha": {f"{a:g}": v for a, v in by_alpha.items()}, "dev_queries": len(query_ids)}


def read_tuned_fusion(model_folder: str | os.PathLike | None) -> dict | None:
    """The tuned fusion record of a model folder, or None when it has none (or is no folder, e.g. a Hub name)."""
    if model_folder is None:
        return None
    path = Path(model_folder) / FUSION_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"unreadable fusion settings ({error})", path) from None
    if not isinstance(record, dict) or record.get("fusion") not in FUSIONS:
        raise InputError(f"field 'fusion' must be one of {', '.join(FUSIONS)}", path)
    field, allowed = ("alpha", ALPHA_RANGE) if record["fusion"] == "score" else ("rrf_k", RRF_K_RANGE)
    problem = allowed.problem(record.get(field))
    if problem:
        raise InputError(f"field '{field}' {problem}", path)
    return record


def fusion_settings(record: Mapping) -> dict:
    """The ``Retriever`` keyword arguments of a tuned fusion record."""
    if record["fusion"] == "score":
        return {"fusion": "score", "alpha": float(record["alpha"])}
    return {"fusion": "rrf", "rrf_k": float(record["rrf_k"])}


def describe_tuned_fusion(record: Mapping) -> str:
    """One line: which fusion the model folder's tuned settings chose, and on what."""
    how = f"score fusion, alpha {record['alpha']:g}" if record["fusion"] == "score" else f"rrf, k {record['rrf_k']:g}"
    score = record.get("dev_score")
    on = f" ({record.get('metric', TUNING_METRIC)} {score:.4f})" if isinstance(score, (int, float)) else ""
    return f"hybrid fusion: {how}, tuned on the dev split when the model was trained{on}; --fusion, --alpha or " \
           "--rrf-k override it"
