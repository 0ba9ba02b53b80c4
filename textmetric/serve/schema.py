"""What the service's JSON requests and answers hold, and the limits a request must keep.

The models are strict: a number where a string belongs (or ``"10"`` for ``k``) is refused,
not converted, and an unknown key is an error, so a misspelt option never passes silently.
Choices (modes, fusions) and defaults come from the library's constants.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from ..search.fusion import ALPHA_RANGE, DEFAULT_ALPHA, DEFAULT_FUSION, DEFAULT_RRF_K, FUSIONS, RRF_K_RANGE
from ..search.retriever import DEFAULT_DEPTH, MODES

__all__ = ["MAX_K", "MAX_QUERIES", "MAX_QUERY_CHARS", "MAX_EF", "MAX_BODY_BYTES", "SearchRequest", "SearchResponse",
           "DocumentIn", "DocumentOut", "DeleteRequest", "AddResponse", "DeleteResponse", "ErrorResponse"]

MAX_K = 1000             # hits per query
MAX_QUERIES = 1000       # queries in one request
MAX_QUERY_CHARS = 100_000  # far past any model's max length: a longer query is truncated like any other
MAX_EF = 10_000          # HNSW search depth
MAX_BODY_BYTES = 16 * 1024 * 1024

_STRICT = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)  # JSON's parser reads NaN and Infinity


def _query_text(text: str, name: str) -> str:
    if not text.strip():
        raise ValueError(f"{name} is empty")
    if len(text) > MAX_QUERY_CHARS:
        raise ValueError(f"{name} has {len(text):,} characters; the limit is {MAX_QUERY_CHARS:,}")
    return text


class SearchRequest(BaseModel):
    """One query (``query``, answered as query id "0") or several (``queries``, ``{id: text}``), and how to
    search them: the options of ``textmetric search``."""

    model_config = _STRICT

    query: str | None = Field(None, description="One query; its id in the answer is \"0\".")
    queries: dict[str, str] | None = Field(None, description="Several queries, {query_id: text}.")
    k: int = Field(10, ge=1, le=MAX_K, description="Hits per query (clamped to the number of documents).")
    mode: Literal[MODES] = Field("dense", description="dense: the model; lexical: BM25; hybrid: both, fused.")
    fusion: Literal[FUSIONS] = Field(DEFAULT_FUSION, description="Hybrid fusion: reciprocal rank fusion or scores.")
    alpha: float = Field(DEFAULT_ALPHA, ge=ALPHA_RANGE.min, le=ALPHA_RANGE.max,
                         description="fusion=score: weight of the dense side.")
    rrf_k: float = Field(DEFAULT_RRF_K, ge=RRF_K_RANGE.min, description="fusion=rrf: the constant k in 1 / (k + rank).")
    depth: int = Field(DEFAULT_DEPTH, ge=1, le=MAX_K, description="Hybrid: candidates taken from each side.")
    ef: int | None = Field(None, ge=1, le=MAX_EF, description="HNSW search depth [default: the index's].")
    filter: dict[str, Any] | None = Field(None, description="Only documents whose fields match, e.g. "
                                                            "{\"year\": 2020}.")
    snippet: int | None = Field(None, ge=4, description="Cut each hit's text to at most this many characters.")
    with_documents: bool = Field(True, description="false: each hit is only its rank, doc_id and score (what "
                                                   "Retriever.search gives), with no document read or sent.")

    @field_validator("query")
    @classmethod
    def _one_query(cls, text: str | None) -> str | None:
        return None if text is None else _query_text(text, "the query")

    @field_validator("queries")
    @classmethod
    def _several(cls, queries: dict[str, str] | None) -> dict[str, str] | None:
        if queries is None:
            return None
        if not queries:
            raise ValueError("no queries")
        if len(queries) > MAX_QUERIES:
            raise ValueError(f"{len(queries):,} queries; the limit is {MAX_QUERIES:,} per request")
        for qid, text in queries.items():
            if not qid.strip():
                raise ValueError("a query id is empty")
            _query_text(text, f"query '{qid}'")
        return queries

    @model_validator(mode="after")
    def _query_or_queries(self) -> "SearchRequest":
        if (self.query is None) == (self.queries is None):
            raise ValueError("give 'query' (one text) or 'queries' ({id: text}), one of them")
        return self

    def texts(self) -> dict[str, str]:
        """The queries by id (a single ``query`` is "0", as for ``textmetric search QUERY``)."""
        return {"0": self.query} if self.query is not None else dict(self.queries)


class Hit(BaseModel):
    """A hit; ``title``, ``text`` and ``fields`` only when the request asked for documents (the default)."""

    rank: int
    doc_id: str
    score: float
    title: str | None = None
    text: str | None = None
    fields: dict[str, Any] | None = None


class QueryResult(BaseModel):
    """One query's hits: the object ``textmetric search --json`` prints for it."""

    query_id: str
    query: str
    score_kind: str
    hits: list[Hit]


class SearchResponse(BaseModel):
    score_kind: str = Field(description="What the scores are: cosine, ip, l2, bm25, rrf or score-fusion.")
    mode: str
    k: int
    results: list[QueryResult] = Field(description="One per query, in the request's order; hits in trec_eval "
                                                   "order (score descending, ties by doc id descending).")
    warnings: list[str] = Field(description="E.g. queries truncated to the model's max length.")
    took_ms: float
    state: int = Field(description="The index state searched: 0 at start, +1 at each change swapped in.")


class DocumentIn(BaseModel):
    """A document to add (or replace, when its id is in the index already), as a line of a corpus file holds
    it: ``_id`` (or ``id``), ``text``, an optional ``title``; every other key is one of its fields (the keys of
    a ``metadata`` object too), which filters match."""

    model_config = ConfigDict(strict=True, extra="allow", allow_inf_nan=False)

    id: str | int = Field(validation_alias=AliasChoices("_id", "id"), description="\"_id\" or \"id\".")
    title: str = ""
    text: str

    @field_validator("id")
    @classmethod
    def _nonempty(cls, value: str | int) -> str:
        value = str(value)
        if not value.strip():
            raise ValueError("empty id")
        return value

    def record(self) -> dict[str, Any]:
        """The document as a corpus record without its id: title, text and the other keys."""
        return {"title": self.title, "text": self.text, **(self.model_extra or {})}


class DocumentOut(BaseModel):
    doc_id: str
    title: str
    text: str
    fields: dict[str, Any]


class DeleteRequest(BaseModel):
    model_config = _STRICT

    ids: list[str] = Field(min_length=1, description="The doc ids to delete.")


class AddResponse(BaseModel):
    added: int
    replaced: int
    documents: int = Field(description="Documents in the index now.")
    state: int


class DeleteResponse(BaseModel):
    deleted: int
    not_found: list[str]
    documents: int
    state: int


class ErrorResponse(BaseModel):
    error: str = Field(description="What was wrong, in one line.")
