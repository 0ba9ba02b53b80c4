"""The records: a corpus of documents, queries, and relevance judgments (qrels), as plain dictionaries.

As in BEIR, pytrec_eval and ranx:

* ``Corpus``  = ``{doc_id: Document(text, title, fields)}``
* ``Queries`` = ``{query_id: text}``
* ``Qrels``   = ``{query_id: {doc_id: grade}}`` with integer grades
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

__all__ = ["Document", "Corpus", "Queries", "Qrels", "RetrievalData", "number_queries"]


@dataclass(frozen=True)
class Document:
    """One document of a corpus: its body, an optional title, and the other fields of its record.

    ``fields`` maps a column name to a JSON value (:mod:`textmetric.data.fields`); filters match
    them (:mod:`textmetric.index.filters`), and the model never sees them.
    """

    text: str
    title: str = ""
    fields: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def full_text(self) -> str:
        """What the model encodes: ``title + " " + text`` when there is a title (as BEIR does)."""
        if self.title:
            return (self.title + " " + self.text).strip()
        return self.text.strip()


Corpus = dict[str, Document]
Queries = dict[str, str]
Qrels = dict[str, dict[str, int]]


@dataclass
class RetrievalData:
    """A corpus, the queries of one split and their judgments."""

    corpus: Corpus
    queries: Queries
    qrels: Qrels


def number_queries(texts: Sequence[str]) -> Queries:
    """Queries given as a list, with their positions as ids: ``"0"``, ``"1"``, ...

    The one rule for unnamed queries, in Python (``Retriever.search``, ``load_queries``) and
    on the command line (``textmetric search QUERY...``): ``run[str(i)]`` answers ``texts[i]``.
    """
    return {str(position): text for position, text in enumerate(texts)}
