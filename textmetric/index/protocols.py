"""What callers may ask of an index, written down: dense search, lexical search, vectors and documents by id.

The HNSW index (:class:`~textmetric.index.Index`), exact search
(:class:`~textmetric.index.ExactIndex`) and several shards searched together
(:class:`~textmetric.index.shards.ShardedIndex`) satisfy every one the same way, so a
caller (the ``Retriever``, a report, hard-negative mining) takes any of them and never
asks which it got. Every list of hits is in trec_eval's order (:mod:`textmetric.search.ranking`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, Sequence, runtime_checkable

import numpy as np

from ..search.ranking import Hits

if TYPE_CHECKING:
    from ..data import Document
    from .filters import Filter, FilterSpec
    from .lexical import LexicalSettings

__all__ = ["DenseSearch", "LexicalSearch", "VectorLookup", "DocumentLookup", "SearchIndex"]


@runtime_checkable
class DenseSearch(Protocol):
    """Nearest documents to query embeddings, in the index's ``space`` of ``dim``-dimensional vectors."""

    dim: int
    space: str
    model: dict | None  # the identity of the model the vectors came from, when the index records it

    def search(self, query_embeddings: np.ndarray, k: int, *, filter: "FilterSpec" = None) -> list[Hits]:
        """Each query's top ``k`` live documents (fewer when the index holds fewer), among those passing
        ``filter`` when one is given (:mod:`textmetric.index.filters`)."""


@runtime_checkable
class LexicalSearch(Protocol):
    """Documents by BM25 over their words; an index may have no lexical side (``lexical_settings`` None)."""

    @property
    def lexical_settings(self) -> "LexicalSettings | None": ...

    def check_lexical(self, mode: str) -> None:
        """Raise an InputError naming the remedy unless lexical searches (for ``mode``) can be served."""

    def search_lexical(self, query_texts: Sequence[str], k: int, *, filter: "FilterSpec" = None) -> list[Hits]:
        """Each query's top ``k`` documents sharing a term with it (and passing ``filter``); an InputError
        without a lexical side."""


@runtime_checkable
class VectorLookup(Protocol):
    """The stored vectors of documents (normalised in the cosine space)."""

    def embeddings(self, doc_ids: Sequence[str]) -> np.ndarray:
        """One row per doc id, in that order; a KeyError for an id the index does not hold."""


@runtime_checkable
class DocumentLookup(Protocol):
    """The live documents: their ids, each one's title, text and fields, and the fields filters may test."""

    @property
    def ids(self) -> list[str]: ...

    def __len__(self) -> int: ...

    def __contains__(self, doc_id: object) -> bool: ...

    def document(self, doc_id: str) -> "Document | None":
        """The stored document, or None when the index does not hold ``doc_id``."""

    def field_kinds(self) -> dict[str, frozenset[str]]:
        """Each field some document has, and the kinds of value it holds there (``string``, ``number``, ...)."""

    def check_filter(self, filter: "FilterSpec") -> "Filter | None":
        """``filter`` parsed and checked against the fields: an InputError for an unknown field or operator,
        or a value of a type the field never holds."""


@runtime_checkable
class SearchIndex(DenseSearch, LexicalSearch, VectorLookup, DocumentLookup, Protocol):
    """All four: what a ``Retriever``, a report and hard-negative mining take."""
