"""Evaluating systems: a retriever's run scored against qrels, a model on labelled pairs, and their tables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from ..data import Examples, Qrels, Queries
from ..encoding import encode
from ..errors import InputError
from ..search.retriever import Retriever
from .metrics import DEFAULT_METRICS, Evaluation, Run, evaluate, pair_accuracy

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from ..encoding import Encoder

__all__ = ["evaluate_retriever", "evaluate_pairs", "format_table", "format_modes_table"]


def evaluate_retriever(retriever: Retriever, queries: Queries, qrels: Qrels, *, k: int = 1000,
                       metrics: Sequence[str] = DEFAULT_METRICS, relevance_level: int = 1,
                       complete: bool = False) -> tuple[Evaluation, Run]:
    """Search every query, then score the run against the qrels; returns the scores and the run."""
    run = retriever.search(queries, k=k)
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
