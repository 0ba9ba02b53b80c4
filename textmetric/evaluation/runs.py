"""TREC run files in and out, and the per-query metrics as CSV.

Run files are ``qid Q0 docid rank score tag``. Only the score orders a query's
results (trec_eval ignores the rank column); scores are written with Python's
``repr``, the shortest text that reads back as exactly the same number.
"""

from __future__ import annotations

import csv
import math
import os
import re
from typing import Iterable
from pathlib import Path

import numpy as np

from ..atomic import atomic_write
from ..data import read_text
from ..data.files import check_unicode
from ..errors import InputError
from ..search.ranking import ordered
from .metrics import Evaluation, Run, rank

__all__ = ["read_run", "write_run", "write_per_query", "check_run_tag", "check_run_ids", "DEFAULT_RUN_TAG"]

_SCORE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
"""The scores a run file holds: ASCII decimal or exponent forms, as trec_eval and every run writer print them
(Python's ``float`` alone would also read '1_0' as 10, '١٢' as 12, 'inf' and 'nan')."""

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
        if not _SCORE.fullmatch(score):
            raise InputError(f"score '{score}' is not a number in decimal or exponent form (as 0.5, -3 or 1.2e-05)",
                             path, number, field="score")
        value = float(score)
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
    return check_unicode(tag, {}, "tag")


_WHITESPACE = re.compile(r"\s")  # what splits a run file's line into fields, as str.split() splits it


def check_run_ids(ids: Iterable[str], kind: str) -> None:
    """Refuse ``kind`` ids ("query", "document") that a TREC run file cannot hold: one with a space, a tab, a
    newline or any other whitespace would split its line into other fields, which neither textmetric nor
    trec_eval could read back. The commands that write a run check their ids with this before any encoding."""
    bad = [i for i in ids if _WHITESPACE.search(i)]
    if bad:
        raise InputError(f"{len(bad)} {kind} id(s) hold whitespace, which a TREC run file cannot carry (first: "
                         f"{bad[0]!r}): give them ids without spaces, tabs or newlines to write a run")


def write_run(run: Run, path: str | os.PathLike, tag: str = DEFAULT_RUN_TAG) -> None:
    """Write ``run`` as a TREC run file, each query in trec_eval's order, ``tag`` in the last column
    (written atomically). Ids with whitespace (:func:`check_run_ids`) and scores that are not finite are
    refused: the file could not be read back."""
    check_run_tag(tag)
    check_run_ids(run, "query")
    check_run_ids({doc_id for scores in run.values() for doc_id in scores}, "document")
    for qid, scores in run.items():
        for doc_id, score in scores.items():
            if not math.isfinite(score):
                raise InputError(f"query {qid!r}, document {doc_id!r}: score {score} is not a finite number, "
                                 f"which a run file cannot hold")
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
