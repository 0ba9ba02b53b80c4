"""Evaluation: TREC run files in and out, and scoring a retriever's run against qrels.

Run files are ``qid Q0 docid rank score tag``. Only the score orders a query's
results (trec_eval ignores the rank column); scores are written with Python's
``repr``, the shortest text that reads back as exactly the same number.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from .atomic import atomic_write
from .data import Examples, Qrels, Queries, read_text
from .errors import InputError
from .metrics import DEFAULT_METRICS, Evaluation, Run, evaluate, pair_accuracy, rank
from .encoding import encode
from .search.ranking import ordered
from .search.retriever import Retriever

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from .encoding import Encoder
    from .index.filters import FilterSpec

__all__ = ["read_run", "write_run", "write_per_query", "evaluate_retriever", "evaluate_pairs", "check_run_tag",
           "DEFAULT_RUN_TAG"]

DEFAULT_RUN_TAG = "textmetric"
"""The last column of the run files textmetric writes, unless told another."""


def read_run(path: str | os.PathLike) -> Run:
    """Read a TREC run file, each query's documents in trec_eval's order (by score, not by the file's
    ranks, as trec_eval reads it); a doc id listed twice for one query is an error (as in trec_eval)."""
    path = Path(path)
    text = read_text(path)
    run: Run = {}
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 6:
            raise InputError(f"expected 6 fields (qid Q0 docid rank score tag), got {len(fields)}", path, number)
        qid, _, doc_id, _, score, _ = fields
        try:
            value = float(score)
        except ValueError:
            raise InputError(f"score '{score}' is not a number", path, number, field="score") from None
        if not np.isfinite(value):
            raise InputError(f"score '{score}' is not finite", path, number, field="score")
        ranking = run.setdefault(qid, {})
        if doc_id in ranking:
            raise InputError(f"document '{doc_id}' listed twice for query '{qid}'", path, number)
        ranking[doc_id] = value
    if not run:
        raise InputError("empty file: no results", path)
    return {qid: dict(ordered(scores)) for qid, scores in run.items()}  # in trec_eval order from here on


def check_run_tag(tag: str) -> str:
    """``tag`` if it can be a run file's tag column: one non-empty word (a space would add a seventh field)."""
    if not isinstance(tag, str) or not tag or tag.split() != [tag]:
        raise InputError(f"a run tag is one word without spaces, got {tag!r}")
    return tag


def write_run(run: Run, path: str | os.PathLike, tag: str = DEFAULT_RUN_TAG) -> None:
    """Write ``run`` as a TREC run file, each query in trec_eval's order, ``tag`` in the last column
    (written atomically)."""
    check_run_tag(tag)
    with atomic_write(path) as f:
        for qid, scores in run.items():
            for position, doc_id in enumerate(rank(scores), start=1):
                f.write(f"{qid} Q0 {doc_id} {position} {float(scores[doc_id])!r} {tag}\n")


def write_per_query(evaluation: Evaluation, path: str | os.PathLike) -> None:
    """Every metric of every evaluated query as CSV (``query_id`` then one column per metric)."""
    names = list(evaluation.means)
    with atomic_write(path, newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["query_id", *names])
        for qid, values in evaluation.per_query.items():
            writer.writerow([qid, *(repr(values[name]) for name in names)])


def evaluate_retriever(retriever: Retriever, queries: Queries, qrels: Qrels, *, k: int = 1000,
                       metrics: Sequence[str] = DEFAULT_METRICS, relevance_level: int = 1,
                       complete: bool = False, filter: FilterSpec = None) -> tuple[Evaluation, Run]:
    """Search every query (among the documents passing ``filter``, when given), then score the run against the
    qrels; returns the scores and the run."""
    run = retriever.search(queries, k=k, filter=filter)
    return evaluate(run, qrels, metrics, relevance_level=relevance_level, complete=complete), run


def format_table(means: Mapping[str, float], num_queries: int) -> str:
    """A two-column text table of metric means, four decimals."""
    width = max(len("queries"), *(len(name) for name in means))
    lines = [f"{name:<{width}}  {value:.4f}" for name, value in means.items()]
    lines.append(f"{'queries':<{width}}  {num_queries}")
    return "\n".join(lines)


def format_modes_table(columns: Mapping[str, Mapping[str, float]], num_queries: int) -> str:
    """Metric means side by side, one column per retrieval mode (a blank where a mode lacks a metric)."""
    names = list(dict.fromkeys(name for means in columns.values() for name in means))
    width = max(len("queries"), len("metric"), *(len(name) for name in names))
    cell = max(7, *(len(mode) for mode in columns))
    lines = ["  ".join([f"{'metric':<{width}}", *(f"{mode:>{cell}}" for mode in columns)])]
    for name in names:
        values = (f"{means[name]:>{cell}.4f}" if name in means else " " * cell for means in columns.values())
        lines.append("  ".join([f"{name:<{width}}", *values]).rstrip())
    lines.append("  ".join([f"{'queries':<{width}}", *(f"{num_queries:>{cell}}" for _ in columns)]))
    return "\n".join(lines)


def evaluate_pairs(model: "Encoder | SentenceTransformer", examples: Examples, *, batch_size: int = 32,
                   progress: bool = False) -> dict[str, float]:
    """Best-threshold accuracy and F1 of the model's cosine similarity on labelled pairs (the seed's accuracy).

    Both sides of a pair are encoded alike, as plain ``SentenceTransformer.encode`` does: no query or document
    prompt, for the pairs are symmetric.
    """
    if examples.kind != "labelled":
        raise InputError(f"pair accuracy needs labelled pairs (text_a, text_b, label), got {examples.kind}")
    a = encode(model, examples.column("text_a"), batch_size=batch_size, normalize=True, progress=progress)
    b = encode(model, examples.column("text_b"), batch_size=batch_size, normalize=True, progress=progress)
    scores = np.einsum("ij,ij->i", a, b)
    return {**pair_accuracy(scores.tolist(), examples.column("label")), "num_pairs": len(examples.rows)}
