"""Hits and trec_eval's order: the one place a ranking is sorted, cut to k, or merged.

trec_eval ranks a query's documents by score cast to float32, descending, and
breaks ties by doc id, descending (byte order). A list of hits is put in that
order once, where it is made (an index's search, a fusion, a run read from a
file); whoever reads it afterwards walks it (:func:`rank` only checks the order
of a mapping that is already in it). A leaf: numpy and nothing of textmetric.
"""

from __future__ import annotations

import heapq
from typing import Iterable, Mapping, Sequence

import numpy as np

__all__ = ["Hit", "Hits", "Run", "rank", "ordered", "id_ranks", "top_k", "top_hits", "sorted_rows", "merge_top_k"]

Hit = tuple[str, float]
Hits = list[Hit]  # one query's (doc id, score) pairs, best first
Run = dict[str, dict[str, float]]  # {query id: {doc id: score}}, each query's documents in trec_eval order


def rank(scores: Mapping[str, float]) -> list[str]:
    """Doc ids in trec_eval order: float32(score) descending, then doc id descending (byte order).

    A mapping already in that order (as every run textmetric makes) is returned as it
    is, after one pass that checks it; any other is sorted by two stable sorts: by id
    descending, then by float32 score descending.
    """
    ids = list(scores)
    if not ids:
        return []
    with np.errstate(over="ignore"):  # scores beyond float32's range become +-inf, as in trec_eval
        values = np.fromiter((scores[d] for d in ids), dtype=np.float64, count=len(ids)).astype(np.float32)
    if _in_order(ids, values):
        return ids
    by_id = sorted(range(len(ids)), key=ids.__getitem__, reverse=True)  # Python str order is UTF-8 byte order
    order = np.asarray(by_id)[np.argsort(-values[by_id], kind="stable")]
    return [ids[i] for i in order.tolist()]


def _in_order(ids: Sequence[str], values: np.ndarray) -> bool:
    """Whether ``ids`` with float32 ``values`` are in trec_eval order already (a NaN never is)."""
    ahead, behind = values[:-1], values[1:]
    tied = ahead == behind
    if not np.all((ahead > behind) | tied):
        return False
    return all(ids[i] > ids[i + 1] for i in np.flatnonzero(tied).tolist())


def ordered(scores: Mapping[str, float]) -> Hits:
    """``scores`` as hits in trec_eval order."""
    return [(doc_id, scores[doc_id]) for doc_id in rank(scores)]


def id_ranks(ids: Sequence[str]) -> np.ndarray:
    """Each id's position in descending id order (byte order): trec_eval's tie-break, as an array key."""
    order = sorted(range(len(ids)), key=ids.__getitem__, reverse=True)
    ranks = np.empty(len(ids), dtype=np.int64)
    ranks[order] = np.arange(len(ids))
    return ranks


def top_k(scores: np.ndarray, candidates: np.ndarray, k: int, tie_rank: np.ndarray) -> np.ndarray:
    """The ``k`` best of ``candidates`` (positions into ``scores`` and ``tie_rank``), best first.

    Score descending, ties by ``tie_rank`` ascending (:func:`id_ranks` gives trec_eval's);
    every candidate tied with the k-th is kept for the sort, so the cut is trec_eval's too.
    """
    k = min(k, len(candidates))
    if k < 1:
        return candidates[:0]
    values = scores[candidates]
    if k < len(candidates):
        kth = np.partition(values, len(values) - k)[len(values) - k]
        keep = np.flatnonzero(values >= kth)
        candidates, values = candidates[keep], values[keep]
    return candidates[np.lexsort((tie_rank[candidates], -values))[:k]]


def top_hits(scores: np.ndarray, candidates: np.ndarray, k: int, ids: Sequence[str], id_rank: np.ndarray) -> Hits:
    """The ``k`` best of ``candidates`` as hits in trec_eval order (``id_rank`` from :func:`id_ranks`)."""
    return [(ids[i], float(scores[i])) for i in top_k(scores, candidates, k, id_rank).tolist()]


def sorted_rows(ids: np.ndarray, scores: np.ndarray) -> list[Hits]:
    """Rows of hits from rows already sorted by float32 score descending (as hnswlib gives them):
    only a row with a tie needs its doc ids put in order, so the rest are taken as they are."""
    tied = np.flatnonzero((scores[:, 1:] == scores[:, :-1]).any(axis=1))
    results = list(map(list, map(zip, ids.tolist(), scores.tolist())))
    for row in tied.tolist():
        hits = results[row]
        hits.sort(key=lambda hit: hit[0], reverse=True)
        hits.sort(key=lambda hit: hit[1], reverse=True)  # stable: ties stay by id descending
    return results


def merge_top_k(rankings: Iterable[Hits], k: int) -> Hits:
    """The top ``k`` of several rankings of float32 scores, in trec_eval order; a document found in
    several keeps its best score. Exact: each ranking's own top ``k`` holds its part of the union's."""
    best: dict[str, float] = {}
    for doc_id, score in (hit for hits in rankings for hit in hits):
        if doc_id not in best or score > best[doc_id]:
            best[doc_id] = score
    return heapq.nlargest(k, best.items(), key=lambda hit: (hit[1], hit[0]))
