"""A query's hits as a reader sees them: each with its rank, score and document, as a record or a text table."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Mapping

from .ranking import rank

if TYPE_CHECKING:
    from ..index.protocols import DocumentLookup

__all__ = ["query_record", "hits_table", "snippet", "printable", "TABLE_SNIPPET"]

TABLE_SNIPPET = 70  # characters of each hit's title and text in the table
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")  # C0, DEL, C1, and the Unicode line breaks


def printable(text: str) -> str:
    """``text`` with its control characters escaped as Python writes them (``\\x1b``, ``\\n``): a table shows
    them, where a terminal would obey them (an id holding an escape sequence could clear the screen)."""
    return _CONTROL.sub(lambda match: ascii(match.group())[1:-1], text)


def snippet(text: str, length: int) -> str:
    """``text`` on one line, cut to at most ``length`` characters (at a word where it can, then "...")."""
    text = " ".join(text.split())
    if len(text) <= length:
        return text
    cut = text[:length - 3]
    if " " in cut[length // 2:]:
        cut = cut[:cut.rindex(" ")]
    return cut.rstrip() + "..."


def query_record(query_id: str, query: str, scores: Mapping[str, float], index: "DocumentLookup | None",
                 score_kind: str, length: int | None = None) -> dict:
    """One query's hits as plain data: ``{query_id, query, score_kind, hits: [{rank, doc_id, score, title, text,
    fields}]}``, each text cut to ``length`` characters when given (see :func:`snippet`); with no ``index``, each
    hit is only ``{rank, doc_id, score}``."""
    hits = []
    for position, doc_id in enumerate(rank(scores), start=1):
        if index is None:
            hits.append({"rank": position, "doc_id": doc_id, "score": scores[doc_id]})
            continue
        doc = index.document(doc_id)
        hits.append({"rank": position, "doc_id": doc_id, "score": scores[doc_id], "title": doc.title,
                     "text": doc.text if length is None else snippet(doc.text, length), "fields": doc.fields})
    return {"query_id": query_id, "query": query, "score_kind": score_kind, "hits": hits}


def hits_table(query: str, scores: Mapping[str, float], index: "DocumentLookup", score_kind: str,
               width: int = TABLE_SNIPPET) -> str:
    """One query's hits as a text table: rank, score, doc id, and the title and text cut to ``width`` characters;
    control characters escaped (:func:`printable`), where :func:`query_record` keeps every text exact."""
    heading = f"score ({score_kind})"
    column = max(7, len(heading))
    lines = [f"query: {printable(query)}", f"{'rank':>4}  {heading:>{column}}  {'doc id':<20}  title: text"]
    for position, doc_id in enumerate(rank(scores), start=1):
        doc = index.document(doc_id)
        label = snippet(printable(" ".join((f"{doc.title}: {doc.text}" if doc.title else doc.text).split())), width)
        lines.append(f"{position:>4}  {scores[doc_id]:>{column}.4f}  {printable(doc_id):<20}  {label}")
    return "\n".join(lines) + "\n"
