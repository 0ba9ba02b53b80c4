"""Loaders of a corpus and of queries, from any form they come in, and of a whole BEIR folder.

A corpus or queries may be a record file (jsonl, csv, tsv, parquet, ``.arrow``), a
BEIR folder (its ``corpus.jsonl`` / ``queries.jsonl``), a ``datasets``
``save_to_disk`` folder, a ``datasets.Dataset``, or a dict: a corpus
``{id: Document | {"title", "text"} | text}`` as BEIR's ``GenericDataLoader`` returns
it, queries ``{id: text}``, or a list of query texts (ids ``"0"``, ``"1"``, ...).
The same column rules hold for every form: an id column ``_id`` or ``id``, ``text``,
an optional ``title``; a document keeps its record's other columns as its ``fields``
(:mod:`.fields`), queries keep only their text. An empty file or dataset is an error; an
empty dict is just empty.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from ..errors import InputError, on_command_line
from .fields import record_fields
from .files import check_unicode
from .qrels import QrelsSource, check_qrels, load_qrels, read_qrels_text
from .records import Corpus, Document, Queries, RetrievalData, number_queries
from .sources import (DICT_NAME, Records, check_id, id_of, is_record_source, records_of, source_name, text_of,
                      unsupported)

if TYPE_CHECKING:
    from datasets import Dataset

__all__ = ["load_corpus", "load_queries", "load_beir", "load_retrieval_data", "CorpusSource", "QueriesSource"]

CorpusSource = Union[str, os.PathLike, "Dataset", Mapping[str, Any]]
QueriesSource = Union[str, os.PathLike, "Dataset", Mapping[str, Any], Sequence[str]]
_CORPUS_FORMS = ("a corpus file, a BEIR folder, a `datasets` save_to_disk folder, a datasets.Dataset, "
                 "or a dict {id: Document, {'title', 'text'} or text}")
_QUERIES_FORMS = ("a queries file, a BEIR folder, a `datasets` save_to_disk folder, a datasets.Dataset, "
                  "a dict {id: text} or a list of texts")
_BEIR_CORPUS = "a BEIR folder (corpus.jsonl)"
_BEIR_QUERIES = "a BEIR folder (queries.jsonl)"


def _load_texts(records: Records, id_field: str | None, text_field: str, title_field: str | None,
                kind: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    first: dict[str, int] = {}
    reserved = {name for name in (id_field, text_field, title_field) if name is not None}
    for number, record in records:
        where = records.where(number)
        doc_id = id_of(record, id_field, where)
        text = text_of(record, text_field, where)
        if doc_id in out:
            raise InputError(f"duplicate {kind} id '{doc_id}' (first on {records.unit} {first[doc_id]})", **where)
        first[doc_id] = number
        if title_field is None:
            out[doc_id] = text
        else:
            out[doc_id] = Document(text=text, title=text_of(record, title_field, where, required=False),
                                   fields=record_fields(record, reserved, where))
    if not out:
        raise records.empty("queries" if kind == "query" else f"{kind}s")
    return out


def _dict_ids(source: Mapping, kind: str) -> list[tuple[str, Any, dict[str, Any]]]:
    """(id as a string, value, where) for each entry of a dict keyed by id; ids unique as strings."""
    entries, seen = [], set()
    for key, value in source.items():
        where = {"path": f"{DICT_NAME} (id '{key}')"}
        doc_id = check_id(key, where)
        if doc_id in seen:
            raise InputError(f"duplicate {kind} id '{doc_id}'", **where)
        seen.add(doc_id)
        entries.append((doc_id, value, where))
    return entries


def _checked_document(document: Document, where: dict[str, Any]) -> Document:
    """A Document given in Python, its text and title checked as a file's are (:func:`check_unicode`)."""
    check_unicode(document.text, where, "text")
    check_unicode(document.title, where, "title")
    return document


def _corpus_of_dict(source: Mapping, text_field: str, title_field: str) -> Corpus:
    reserved = {text_field, title_field}
    if isinstance(source, dict) and all(type(k) is str and isinstance(v, Document) for k, v in source.items()):
        for doc_id, document in source.items():
            _checked_document(document, {"path": f"{DICT_NAME} (id '{doc_id}')"})
        return source  # already a Corpus
    corpus: Corpus = {}
    for doc_id, value, where in _dict_ids(source, "document"):
        if isinstance(value, Document):
            corpus[doc_id] = _checked_document(value, where)
        elif isinstance(value, str):
            corpus[doc_id] = Document(check_unicode(value, where, "text"))
        elif isinstance(value, Mapping):
            corpus[doc_id] = Document(text_of(value, text_field, where),
                                      text_of(value, title_field, where, required=False),
                                      record_fields(value, reserved, where))
        else:
            raise InputError(f"expected a Document, a dict with '{text_field}' (and '{title_field}') or a string, "
                             f"got {type(value).__name__}", **where)
    return corpus


def _queries_of_dict(source: Mapping, text_field: str) -> Queries:
    queries: Queries = {}
    for qid, value, where in _dict_ids(source, "query"):
        if isinstance(value, Mapping):
            value = text_of(value, text_field, where)
        elif not isinstance(value, str):
            raise InputError(f"expected the query text, got {type(value).__name__}", **where)
        queries[qid] = check_unicode(value, where, text_field)
    return queries


def _queries_of_list(texts: Sequence) -> Queries:
    name = "QUERY" if on_command_line() else f"<{type(texts).__name__}>"  # `textmetric search QUERY...`
    for position, text in enumerate(texts):
        where = {"path": f"{name} (id '{position}')"}
        if not isinstance(text, str):
            raise InputError(f"expected the query text, got {type(text).__name__}", **where)
        check_unicode(text, where)
    return number_queries(texts)


def load_corpus(source: CorpusSource, *, format: str | None = None, id_field: str | None = None,
                text_field: str = "text", title_field: str = "title") -> Corpus:
    """Documents from a file (jsonl/csv/tsv/parquet/arrow), a BEIR folder, a saved or in-memory
    ``datasets.Dataset``, or a dict; the columns are an id (``_id`` or ``id``), ``text``, optional ``title``,
    and any others become the document's ``fields`` (a ``metadata`` object's keys too).

    Every function that takes a corpus reads it through here, so each accepts every form.
    """
    if is_record_source(source):
        records = records_of(source, format, beir_file="corpus.jsonl", folder_forms=_BEIR_CORPUS)
        return _load_texts(records, id_field, text_field, title_field, "document")
    if isinstance(source, Mapping):
        return _corpus_of_dict(source, text_field, title_field)
    raise unsupported(source, "a corpus", _CORPUS_FORMS)


def load_queries(source: QueriesSource, *, format: str | None = None, id_field: str | None = None,
                 text_field: str = "text") -> Queries:
    """Queries from a file (jsonl/csv/tsv/parquet/arrow), a BEIR folder, a saved or in-memory
    ``datasets.Dataset`` (columns ``_id`` or ``id``, ``text``), a dict ``{id: text}``, or a list of
    texts, numbered from ``"0"`` (:func:`number_queries`)."""
    if is_record_source(source):
        records = records_of(source, format, beir_file="queries.jsonl", folder_forms=_BEIR_QUERIES)
        return _load_texts(records, id_field, text_field, None, "query")
    if isinstance(source, Mapping):
        return _queries_of_dict(source, text_field)
    if isinstance(source, Sequence):
        return _queries_of_list(source)
    raise unsupported(source, "queries", _QUERIES_FORMS)


def load_beir(folder: str | os.PathLike, split: str = "test") -> RetrievalData:
    """Read a BEIR folder: ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``.

    The queries are those judged in the split, as BEIR loads them.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("no such folder (expected a BEIR folder with corpus.jsonl, queries.jsonl, qrels/)",
                         folder)
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.exists():
        splits = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
        raise InputError(f"no split '{split}' (splits here: {', '.join(splits) or 'none'})", qrels_path)
    corpus = load_corpus(folder / "corpus.jsonl")
    all_queries = load_queries(folder / "queries.jsonl")
    qrels, lines = read_qrels_text(qrels_path)
    check_qrels(qrels, corpus, all_queries, source=str(qrels_path), lines=lines)
    queries = {qid: all_queries[qid] for qid in qrels if qid in all_queries}
    return RetrievalData(corpus=corpus, queries=queries, qrels=qrels)


def load_retrieval_data(corpus: CorpusSource | None, queries: QueriesSource, qrels: QrelsSource) -> RetrievalData:
    """A corpus, queries and qrels from separate sources, checked against each other as :func:`load_beir` checks
    a folder; the queries kept are those judged. ``corpus`` may be None (an index holds the documents)."""
    documents = load_corpus(corpus) if corpus is not None else None
    all_queries, judgments = load_queries(queries), load_qrels(qrels)
    check_qrels(judgments, documents, all_queries, source=source_name(qrels))
    return RetrievalData(documents or {}, {q: all_queries[q] for q in judgments if q in all_queries}, judgments)
