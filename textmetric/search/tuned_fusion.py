"""Hybrid fusion settings kept in a model folder (:data:`FUSION_FILE`): reading them for hybrid search.

``textmetric train --tune-fusion`` chooses them on the dev split (``training/fusion_tuning.py``);
a hybrid search whose model folder has them uses them unless given a fusion option.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping

from ..errors import InputError
from .fusion import ALPHA_RANGE, FUSIONS, RRF_K_RANGE

__all__ = ["FUSION_FILE", "TUNING_METRIC", "FUSION_OPTIONS", "read_tuned_fusion", "tuned_fusion_of", "fusion_settings",
           "describe_tuned_fusion"]

FUSION_FILE = "fusion.json"
TUNING_METRIC = "ndcg@10"  # what the fusion is chosen by
FUSION_OPTIONS = ("fusion", "alpha", "rrf_k")  # a search that names any of them uses no tuned fusion


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


def tuned_fusion_of(index_model: Mapping | None, model: object = None) -> dict | None:
    """The tuned fusion of the model a hybrid search uses: ``model``'s folder when given (a name or path; an
    :class:`~textmetric.Encoder` by the name it was loaded by), else the folder the index's manifest records
    (``index_model``, :attr:`Index.model`); None when that folder keeps none."""
    if model is not None and not isinstance(model, (str, os.PathLike)):
        model = getattr(model, "name", None)
    return read_tuned_fusion(model if model is not None else (index_model or {}).get("name"))


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
