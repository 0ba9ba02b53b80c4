"""Hard negatives: the current model's top-ranked documents that are not judged relevant.

They make the triplet and in-batch losses learn what the model gets wrong now,
rather than what random documents already teach it. Mining searches an index
(the HNSW ``Index`` or an ``ExactIndex``) through the same ``Retriever`` as
evaluation: there is no second search implementation.
"""

from __future__ import annotations

import json
import os

import numpy as np
from typing import TYPE_CHECKING, Iterator

from ..data import Corpus, Qrels, Queries
from ..encoding import DEFAULT_BATCH_SIZE
from ..errors import InputError, option
from ..atomic import atomic_write
from ..search.ranking import rank
from ..index.protocols import SearchIndex
from ..search.retriever import Retriever
from .config import DEFAULT_RELATIVE_MARGIN, RANGES

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from ..encoding import Encoder

__all__ = ["mine_hard_negatives", "write_triplets", "DEFAULT_NEGATIVES", "DEFAULT_SKIP_TOP", "DEFAULT_MAX_RANK",
           "DEFAULT_RELATIVE_MARGIN"]

DEFAULT_NEGATIVES = 5  # per query
DEFAULT_SKIP_TOP = 0  # top hits passed over (they often hold relevant documents nobody judged)
DEFAULT_MAX_RANK = 50  # negatives come from the top this many hits


def mine_hard_negatives(model: "Encoder | SentenceTransformer", index: SearchIndex, queries: Queries, qrels: Qrels, *,
                        negatives: int = DEFAULT_NEGATIVES, skip_top: int = DEFAULT_SKIP_TOP,
                        max_rank: int = DEFAULT_MAX_RANK, relative_margin: float = DEFAULT_RELATIVE_MARGIN,
                        batch_size: int = DEFAULT_BATCH_SIZE, progress: bool = False) -> dict[str, list[str]]:
    """For each judged query, up to ``negatives`` unjudged-or-non-relevant doc ids from its top ``max_rank``.

    The first ``skip_top`` hits are passed over: the very top of a ranking often holds
    relevant documents nobody judged (false negatives). Judged-relevant documents
    (grade >= 1) are never negatives. With a ``relative_margin`` m > 0, a candidate whose cosine
    similarity to the query exceeds ``(1 − m)`` times that of the query's least similar relevant
    document is dropped too, as likely relevant (sentence-transformers' ``mine_hard_negatives``;
    Moreira et al. 2024, NV-Retriever's TopK-PercPos).
    """
    if negatives < 1:
        raise InputError(f"{option('negatives')} must be at least 1, got {negatives}")
    if skip_top < 0 or max_rank < 1 or skip_top >= max_rank:
        skip, most = option("skip_top"), option("max_rank")
        raise InputError(f"need 0 <= {skip} < {most}, got {skip} {skip_top} and {most} {max_rank}")
    RANGES["relative_margin"].check("relative_margin", relative_margin)
    judged = {q: t for q, t in queries.items() if q in qrels}
    retriever = Retriever(model, index, batch_size=batch_size, progress=progress)
    embeddings = retriever.encode(list(judged.values())) if judged else None
    run = retriever.search(judged, k=max_rank, embeddings=embeddings)
    mined: dict[str, list[str]] = {}
    for position, (qid, scores) in enumerate(run.items()):
        relevant = {d for d, grade in qrels[qid].items() if grade >= 1}
        candidates = [d for d in rank(scores)[skip_top:] if d not in relevant]
        if relative_margin > 0:
            candidates = _below_margin(index, embeddings[position], relevant, candidates, relative_margin)
        mined[qid] = candidates[:negatives]
    return mined


def _below_margin(index: SearchIndex, query: np.ndarray, relevant: set[str], candidates: list[str],
                  margin: float) -> list[str]:
    """The candidates whose cosine similarity to ``query`` is at most ``(1 − margin)`` x the least similar
    relevant document's (all of them when no relevant document is in the index)."""
    positives = [d for d in relevant if d in index]
    if not positives or not candidates:
        return candidates
    ceiling = (1.0 - margin) * float(np.min(_cosines(index, query, positives)))
    return [d for d, score in zip(candidates, _cosines(index, query, candidates)) if score <= ceiling]


def _cosines(index: SearchIndex, query: np.ndarray, doc_ids: list[str]) -> np.ndarray:
    vectors = np.asarray(index.embeddings(doc_ids), dtype=np.float64)
    query = np.asarray(query, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1) * np.linalg.norm(query)
    return (vectors @ query) / np.where(norms > 0, norms, 1.0)


def triplets(queries: Queries, corpus: Corpus, qrels: Qrels, mined: dict[str, list[str]]) -> Iterator[dict]:
    """``{anchor, positive, negative}`` rows: every relevant document of a query with each of its negatives."""
    for qid, negatives in mined.items():
        for doc_id, grade in qrels[qid].items():
            if grade < 1 or doc_id not in corpus:
                continue
            for negative in negatives:
                yield {"anchor": queries[qid], "positive": corpus[doc_id].full_text,
                       "negative": corpus[negative].full_text, "query_id": qid, "positive_id": doc_id,
                       "negative_id": negative}


def write_triplets(path: str | os.PathLike, queries: Queries, corpus: Corpus, qrels: Qrels,
                   mined: dict[str, list[str]]) -> int:
    """Write the triplets as jsonl (atomically); returns how many rows were written."""
    count = 0
    with atomic_write(path) as f:
        for row in triplets(queries, corpus, qrels, mined):
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count
