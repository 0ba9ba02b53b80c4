"""Retrieval metrics that match trec_eval (as bundled in pytrec_eval) to 1e-6, ties included.

A run is ``{query_id: {doc_id: score}}`` and qrels are ``{query_id: {doc_id: grade}}``.
The rules (see METRICS.md): a query's documents are ordered by score cast to float32,
descending, ties broken by doc id descending (byte order); a document is relevant when
its grade is >= ``relevance_level``; R counts every relevant judged document, retrieved
or not. Metric names follow ranx: ``map``, ``map@k``, ``ndcg``, ``ndcg@k``, ``mrr``,
``mrr@k``, ``recall@k``, ``p@k``, ``r-precision``, ``bpref``, ``success@k``; trec_eval's own names
(``map_cut_10``, ``P_10``, ``recip_rank``, ``Rprec``...) and ranx/BEIR spellings (``NDCG@10``,
``precision@10``, ``hit_rate@10``) are accepted too, in any case (see :func:`parse_metric`).

Also :func:`pair_accuracy`: best-threshold accuracy and F1 over labelled pairs.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from ..data import Qrels
from ..errors import InputError, option, warn
from ..search.ranking import Run, rank

__all__ = [
    "Run", "Metric", "Evaluation", "METRICS", "DEFAULT_METRICS", "DEFAULT_RELEVANCE_LEVEL",
    "rank", "parse_metric", "evaluate", "check_coverage",
    "average_precision", "ndcg", "reciprocal_rank", "recall", "precision", "r_precision", "bpref", "success",
    "pair_accuracy",
]

DEFAULT_METRICS = ("map", "map@100", "ndcg@10", "mrr@10", "recall@100", "p@10")
DEFAULT_RELEVANCE_LEVEL = 1  # the lowest grade that counts as relevant: trec_eval's -l default


# --------------------------------------------------------------------------- per-query metrics

def _cut(ranking: Sequence[str], k: int | None) -> Sequence[str]:
    if k is None:
        return ranking
    if k < 1:
        raise InputError(f"cutoff k must be a positive integer, got {k}")
    return ranking[:k]


def _num_relevant(judgments: Mapping[str, int], relevance_level: int) -> int:
    return sum(1 for grade in judgments.values() if grade >= relevance_level)


def _hits(ranking: Sequence[str], judgments: Mapping[str, int], relevance_level: int) -> int:
    get = judgments.get
    return sum(1 for d in ranking if (g := get(d)) is not None and g >= relevance_level)


def average_precision(ranking: Sequence[str], judgments: Mapping[str, int], k: int | None = None,
                      relevance_level: int = DEFAULT_RELEVANCE_LEVEL) -> float:
    """AP@k = (1/R) * sum over ranks i <= k holding a relevant doc of (relevant in top i) / i.

    Divided by R, not min(k, R) (trec_eval ``map`` / ``map_cut_k``); 0 when R = 0.
    """
    num_relevant = _num_relevant(judgments, relevance_level)
    if num_relevant == 0:
        return 0.0
    get = judgments.get
    hits, total = 0, 0.0
    for i, d in enumerate(_cut(ranking, k), start=1):
        g = get(d)
        if g is not None and g >= relevance_level:
            hits += 1
            total += hits / i
    return total / num_relevant


def ndcg(ranking: Sequence[str], judgments: Mapping[str, int], k: int | None = None) -> float:
    """nDCG@k = DCG@k / ideal DCG@k, DCG = sum over i <= k with grade g_i > 0 of g_i / log2(i + 1).

    Linear gain (the grade); the ideal ranks all judged grades > 0 descending. No relevance level
    applies (trec_eval ``ndcg`` / ``ndcg_cut_k``); 0 when no grade is > 0.
    """
    ideal = sorted((g for g in judgments.values() if g > 0), reverse=True)
    if not ideal:
        return 0.0
    get = judgments.get
    dcg = 0.0
    for i, d in enumerate(_cut(ranking, k), start=1):
        g = get(d)
        if g is not None and g > 0:
            dcg += g / math.log2(i + 1)
    ideal_dcg = sum(g / math.log2(i + 1) for i, g in enumerate(_cut(ideal, k), start=1))
    return dcg / ideal_dcg


def reciprocal_rank(ranking: Sequence[str], judgments: Mapping[str, int], k: int | None = None,
                    relevance_level: int = DEFAULT_RELEVANCE_LEVEL) -> float:
    """RR@k = 1 / rank of the first relevant doc within the top k, else 0 (trec_eval ``recip_rank``)."""
    get = judgments.get
    for i, d in enumerate(_cut(ranking, k), start=1):
        g = get(d)
        if g is not None and g >= relevance_level:
            return 1.0 / i
    return 0.0


def recall(ranking: Sequence[str], judgments: Mapping[str, int], k: int | None = None,
           relevance_level: int = DEFAULT_RELEVANCE_LEVEL) -> float:
    """Recall@k = (relevant in top k) / R; 0 when R = 0 (trec_eval ``recall_k``)."""
    num_relevant = _num_relevant(judgments, relevance_level)
    if num_relevant == 0:
        return 0.0
    return _hits(_cut(ranking, k), judgments, relevance_level) / num_relevant


def precision(ranking: Sequence[str], judgments: Mapping[str, int], k: int | None = None,
              relevance_level: int = DEFAULT_RELEVANCE_LEVEL) -> float:
    """P@k = (relevant in top k) / k, k even when fewer were retrieved (trec_eval ``P_k``).

    Without k: relevant retrieved / number retrieved (0 for an empty ranking).
    """
    depth = len(ranking) if k is None else k
    if depth == 0:
        return 0.0
    return _hits(_cut(ranking, k), judgments, relevance_level) / depth


def r_precision(ranking: Sequence[str], judgments: Mapping[str, int],
                relevance_level: int = DEFAULT_RELEVANCE_LEVEL) -> float:
    """R-precision = (relevant in top R) / R; 0 when R = 0 (trec_eval ``Rprec``)."""
    num_relevant = _num_relevant(judgments, relevance_level)
    if num_relevant == 0:
        return 0.0
    return _hits(ranking[:num_relevant], judgments, relevance_level) / num_relevant


def bpref(ranking: Sequence[str], judgments: Mapping[str, int], relevance_level: int = DEFAULT_RELEVANCE_LEVEL
          ) -> float:
    """bpref = (1/R) * sum over retrieved relevant docs r of 1 - min(n_r, R) / min(N, R) (Buckley & Voorhees 2004).

    Only judged documents count: n_r is the number of judged non-relevant docs (0 <= grade < level) ranked
    above r, N all judged non-relevant docs, retrieved or not; unjudged docs and negative grades are skipped
    (trec_eval ``bpref``). A relevant doc with no judged non-relevant doc above it adds 1; 0 when R = 0.
    """
    num_relevant = _num_relevant(judgments, relevance_level)
    if num_relevant == 0:
        return 0.0
    num_nonrelevant = sum(1 for grade in judgments.values() if 0 <= grade < relevance_level)
    get = judgments.get
    nonrelevant_above, total = 0, 0.0
    for d in ranking:
        g = get(d)
        if g is None or g < 0:
            continue
        if g < relevance_level:
            nonrelevant_above += 1
        elif nonrelevant_above:  # then num_nonrelevant >= nonrelevant_above > 0
            total += 1.0 - min(nonrelevant_above, num_relevant) / min(num_nonrelevant, num_relevant)
        else:
            total += 1.0
    return total / num_relevant


def success(ranking: Sequence[str], judgments: Mapping[str, int], k: int | None = None,
            relevance_level: int = DEFAULT_RELEVANCE_LEVEL) -> float:
    """Success@k = 1 if a relevant doc is in the top k, else 0 (trec_eval ``success_k``, ranx ``hit_rate@k``)."""
    return 1.0 if _hits(_cut(ranking, k), judgments, relevance_level) else 0.0


# --------------------------------------------------------------------------- registry

@dataclass(frozen=True)
class _Family:
    function: Callable[..., float]
    cut: str  # "optional", "required" or "none"
    uses_level: bool


METRICS: dict[str, _Family] = {
    "map": _Family(average_precision, "optional", True),
    "ndcg": _Family(ndcg, "optional", False),
    "mrr": _Family(reciprocal_rank, "optional", True),
    "recall": _Family(recall, "required", True),
    "p": _Family(precision, "required", True),
    "r-precision": _Family(r_precision, "none", True),
    "bpref": _Family(bpref, "none", True),
    "success": _Family(success, "required", True),
}
"""Metric families by base name; :func:`parse_metric` turns a full name such as ``ndcg@10`` into a :class:`Metric`."""

_SPELLINGS = {  # lower-cased base name, cut written "@k" (ours, ranx, BEIR) or absent -> family
    **{family: family for family in METRICS},
    "precision": "p", "hit_rate": "success", "recip_rank": "mrr", "rprec": "r-precision",
}
_TREC_CUTS = {  # lower-cased trec_eval base name, cut written "_k" -> family
    "map_cut": "map", "ndcg_cut": "ndcg", "recall": "recall", "p": "p", "success": "success",
}

VALID_NAMES = ("map, map@k, ndcg, ndcg@k, mrr, mrr@k, recall@k, p@k, r-precision, bpref, success@k; "
               "trec_eval's map_cut_k, ndcg_cut_k, recip_rank, recall_k, P_k, Rprec, success_k; "
               "ranx/BEIR's precision@k, hit_rate@k (any case, k a positive integer)")
"""The accepted metric names, as one line (for error messages and --help)."""

_NAME = re.compile(r"([a-z_-]+?)(?:([@_])([1-9][0-9]*))?")


@dataclass(frozen=True)
class Metric:
    """A parsed metric name: the per-query function and its cutoff k (None: the whole ranking)."""

    name: str
    function: Callable[..., float]
    k: int | None = None
    uses_level: bool = True

    def __call__(self, ranking: Sequence[str], judgments: Mapping[str, int],
                 relevance_level: int = DEFAULT_RELEVANCE_LEVEL) -> float:
        """The metric of one query's ranking (doc ids in rank order) against its judgments."""
        kwargs: dict = {}
        if self.k is not None:
            kwargs["k"] = self.k
        if self.uses_level:
            kwargs["relevance_level"] = relevance_level
        return self.function(ranking, judgments, **kwargs)


def parse_metric(name: str) -> Metric:
    """Parse a metric name, in any case: ours/ranx/BEIR (``ndcg@10``, ``NDCG@10``, ``hit_rate@5``) or
    trec_eval's (``ndcg_cut_10``, ``P_10``, ``recip_rank``, ``Rprec``); InputError if unknown.

    The :class:`Metric` keeps ``name`` as given, so results are keyed (and printed) by the caller's spelling.
    """
    match = _NAME.fullmatch(name.lower()) if isinstance(name, str) else None
    family = None
    if match:
        base, separator, cut = match.groups()
        aliases = _TREC_CUTS if separator == "_" else _SPELLINGS
        family = METRICS.get(aliases.get(base, ""))
    if family is not None:
        k = None if cut is None else int(cut)
        if (k is None and family.cut != "required") or (k is not None and family.cut != "none"):
            return Metric(name, family.function, k, family.uses_level)
    raise InputError(f"unknown metric '{name}'; valid metrics: {VALID_NAMES}")


# --------------------------------------------------------------------------- evaluation

@dataclass
class Evaluation:
    """Mean of each metric over the evaluated queries, and every query's values."""

    means: dict[str, float]
    per_query: dict[str, dict[str, float]]
    num_queries: int


def evaluate(run: Run, qrels: Qrels, metrics: Iterable[str] = DEFAULT_METRICS, *,
             relevance_level: int = DEFAULT_RELEVANCE_LEVEL, complete: bool = False) -> Evaluation:
    """Score ``run`` against ``qrels``: per-query metrics and their means (trec_eval, ``-c`` if complete).

    Evaluated queries: those in both run and qrels; with ``complete`` every qrels query, one missing
    from the run scoring 0. A qrels query with no judgments at all is skipped (as pytrec_eval does).
    Judged queries missing from the run are counted in a warning; a run with none of them is an
    InputError (see :func:`check_coverage`).
    """
    if isinstance(metrics, str):
        metrics = (metrics,)
    parsed = [parse_metric(name) for name in dict.fromkeys(metrics)]
    if isinstance(relevance_level, bool) or not isinstance(relevance_level, (int, np.integer)) \
            or relevance_level < 1:
        # pytrec_eval refuses 0 and misbehaves below it; a level < 1 would also make unjudged docs ambiguous.
        raise InputError(f"relevance level must be an integer >= 1, got {relevance_level!r}")
    check_coverage(run, qrels, complete=complete)
    queries = sorted(q for q, judgments in qrels.items() if judgments and (complete or q in run))
    per_query: dict[str, dict[str, float]] = {}
    for q in queries:
        ranking = rank(run.get(q, {}))
        judgments = qrels[q]
        per_query[q] = {m.name: m(ranking, judgments, relevance_level) for m in parsed}
    n = len(queries)
    means = {m.name: (math.fsum(values[m.name] for values in per_query.values()) / n if n else 0.0)
             for m in parsed}
    return Evaluation(means=means, per_query=per_query, num_queries=n)


def check_coverage(run: Run, qrels: Qrels, *, complete: bool = False) -> list[str]:
    """The judged queries ``run`` lacks, counted in a warning; an InputError if it answers none of them.

    A run sharing no query id with the qrels is a wrong file or another collection's ids, and
    its zeros would read as a score; a run covering a few judged queries averages over those few.
    """
    judged = [q for q, judgments in qrels.items() if judgments]
    missing = [q for q in judged if q not in run]
    if judged and len(missing) == len(judged):
        example = f" (the run has '{next(iter(run))}', the qrels '{judged[0]}')" if run else ""
        raise InputError(f"the run answers none of the {len(judged)} judged queries{example}: "
                         f"is it the run of these qrels?")
    if missing:
        if complete:
            fate = "they score 0"
        else:
            fate = f"they are left out of the means ({option('complete', value='True')} scores them 0)"
        warn(f"{len(missing)} of {len(judged)} judged queries {'is' if len(missing) == 1 else 'are'} missing "
             f"from the run "
             f"(first: '{missing[0]}'): {fate}")
    return missing


# --------------------------------------------------------------------------- pair classification

def pair_accuracy(scores: Sequence[float], labels: Sequence[int], higher_is_similar: bool = True) -> dict[str, float]:
    """Best-threshold accuracy and F1 for labelled pairs (1 = similar), as sentence-transformers computes them.

    A pair is predicted similar when score >= threshold (a distance: <= threshold); thresholds are the
    midpoints between adjacent distinct scores plus the two extremes. Keys: accuracy,
    accuracy_threshold, f1, precision, recall, f1_threshold (precision and recall at the best F1).
    """
    try:
        s = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("scores must be numbers") from None
    y = np.asarray(labels)
    if s.ndim != 1 or y.ndim != 1:
        raise InputError("scores and labels must be flat sequences")
    if len(s) != len(y):
        raise InputError(f"{len(s)} scores but {len(y)} labels")
    if len(s) == 0:
        raise InputError("no pairs to score")
    if not np.all(np.isfinite(s)):
        raise InputError("scores must be finite numbers")
    if y.dtype.kind not in "biuf" or not np.all((y == 0) | (y == 1)):
        raise InputError("labels must be 0 or 1")
    y = y.astype(np.int64)

    sim = s if higher_is_similar else -s  # work on a similarity: similar iff sim >= threshold
    order = np.argsort(-sim, kind="stable")
    sim, y = sim[order], y[order]
    n, positives = len(y), int(y.sum())
    ends = np.append(np.flatnonzero(np.diff(sim) != 0) + 1, n)  # end of each group of equal scores
    predicted = np.concatenate(([0], ends))  # candidate j predicts the top j groups similar
    tp = np.concatenate(([0], np.cumsum(y)[ends - 1]))
    fp = predicted - tp
    fn = positives - tp
    tn = (n - positives) - fp

    upper, lower = sim[ends[:-1] - 1], sim[ends[:-1]]  # adjacent distinct scores
    middle = upper / 2 + lower / 2
    middle = np.where(middle <= lower, upper, middle)  # a midpoint rounded onto the lower score
    thresholds = np.concatenate(([np.nextafter(sim[0], np.inf)], middle, [sim[-1]]))
    if not higher_is_similar:
        thresholds = -thresholds

    accuracy = (tp + tn) / n
    best_acc = int(np.argmax(accuracy))  # first maximum: the strictest threshold
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(tp > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
        prec = np.where(tp > 0, tp / np.maximum(predicted, 1), 0.0)
        rec = np.where(tp > 0, tp / max(positives, 1), 0.0)
    best_f1 = int(np.argmax(f1))
    return {
        "accuracy": float(accuracy[best_acc]),
        "accuracy_threshold": float(thresholds[best_acc]),
        "f1": float(f1[best_f1]),
        "precision": float(prec[best_f1]),
        "recall": float(rec[best_f1]),
        "f1_threshold": float(thresholds[best_f1]),
    }
