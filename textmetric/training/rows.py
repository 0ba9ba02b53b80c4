"""Training rows in the column shapes the losses read, built from (anchor, positive, negatives) pairs.

A BEIR folder (its train qrels, plus mined or random negatives) and an example file of pairs
or triplets both come down to a list of :class:`TrainingPair`; each loss's spec (see
``losses/registry.py``) names the function here that lays those pairs out as its rows.
The ``columns`` each function receives are the spec's, in the order the trainer passes them.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

__all__ = ["TrainingPair", "query_positive_rows", "triplet_rows", "labelled_pair_rows", "class_rows"]

Columns = tuple[str, ...]


class TrainingPair(NamedTuple):
    """An anchor (a query), one of its positives, and its negatives (``None``: the data has none).

    ``key`` identifies the anchor (a query id, or the anchor text itself): pairs with the same
    key share a class in :func:`class_rows`.
    """

    key: str
    anchor: str
    positive: str
    negatives: tuple[str, ...] | None = None


def query_positive_rows(columns: Columns, pairs: Sequence[TrainingPair]) -> tuple[Columns, list[tuple]]:
    """``(query, positive)`` rows; with one negative per pair, ``(query, positive, negative)``; with k > 1,
    one row per pair, ``(query, positive, negative_1, …, negative_k)``, so that each query's softmax weighs
    all its hard negatives at once (a pair with fewer repeats its own). Pairs without negatives are dropped
    once any pair has some."""
    if all(pair.negatives is None for pair in pairs):
        return columns, [(pair.anchor, pair.positive) for pair in pairs]
    most = max(len(pair.negatives or ()) for pair in pairs)
    if most <= 1:
        return (*columns, "negative"), _one_row_per_negative(pairs)
    return (*columns, *(f"negative_{i}" for i in range(1, most + 1))), [
        (pair.anchor, pair.positive, *(pair.negatives[i % len(pair.negatives)] for i in range(most)))
        for pair in pairs if pair.negatives]


def triplet_rows(columns: Columns, pairs: Sequence[TrainingPair]) -> tuple[Columns, list[tuple]]:
    """``(anchor, positive, negative)`` rows, one per negative."""
    return columns, _one_row_per_negative(pairs)


def labelled_pair_rows(columns: Columns, pairs: Sequence[TrainingPair]) -> tuple[Columns, list[tuple]]:
    """``(text_a, text_b, label)`` rows: ``(anchor, positive, 1)``, then ``(anchor, negative, 0)`` per negative."""
    rows: list[tuple] = []
    for pair in pairs:
        rows.append((pair.anchor, pair.positive, 1))
        rows += [(pair.anchor, negative, 0) for negative in pair.negatives or ()]
    return columns, rows


def class_rows(columns: Columns, pairs: Sequence[TrainingPair]) -> tuple[Columns, list[tuple]]:
    """``(text, label)`` rows: an anchor and its positives form one class (ids 0, 1, … in order of first sight)."""
    classes: dict[str, int] = {}
    rows: list[tuple] = []
    for pair in pairs:
        if pair.key not in classes:
            classes[pair.key] = len(classes)
            rows.append((pair.anchor, classes[pair.key]))
        rows.append((pair.positive, classes[pair.key]))
    return columns, rows


def _one_row_per_negative(pairs: Sequence[TrainingPair]) -> list[tuple]:
    return [(pair.anchor, pair.positive, negative) for pair in pairs for negative in pair.negatives or ()]
