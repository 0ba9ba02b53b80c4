"""Corpus, queries and relevance judgments (qrels), and the loaders that read them.

The records are plain dictionaries, as in BEIR, pytrec_eval and ranx:

* ``Corpus``  = ``{doc_id: Document(text, title)}``
* ``Queries`` = ``{query_id: text}``
* ``Qrels``   = ``{query_id: {doc_id: grade}}`` with integer grades

The text a model sees for a document is ``title + " " + text`` when the title is
non-empty, else ``text`` (stripped, exactly as BEIR and MTEB build it).

What is an error (``InputError``: one line naming the file, the line and the
problem): malformed JSON or CSV, a non-UTF-8 byte, a missing or empty id, a
missing text, a duplicate id, a qrels line with the wrong number of fields or a
non-integer grade, a document judged twice for one query, an empty file.
What is a warning (counted, with the first example): judged documents or queries
that the corpus or the queries file lacks -- they still count as relevant
(trec_eval's R), they can just never be retrieved.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from .errors import InputError, warn

__all__ = [
    "Document", "Corpus", "Queries", "Qrels", "RetrievalData",
    "load_corpus", "load_queries", "load_qrels", "load_beir", "check_qrels", "Examples", "load_examples",
]


@dataclass(frozen=True)
class Document:
    """One document of a corpus: its body and an optional title."""

    text: str
    title: str = ""

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


FORMATS = ("jsonl", "csv", "tsv", "parquet")
_SUFFIXES = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv",
             ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}


def _format_of(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in FORMATS:
            raise InputError(f"unknown format '{fmt}' (expected one of {', '.join(FORMATS)})", path)
        return fmt
    try:
        return _SUFFIXES[path.suffix.lower()]
    except KeyError:
        raise InputError(f"cannot tell the format from the suffix '{path.suffix}' "
                         f"(expected .jsonl, .csv, .tsv or .parquet)", path) from None


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError("no such file", path)
    if path.is_dir():
        raise InputError("is a folder, expected a file", path)


def read_text(path: str | os.PathLike) -> str:
    """A whole UTF-8 text file, or an ``InputError`` naming the line of its first bad byte."""
    path = Path(path)
    _check_file(path)
    return _decode(path.read_bytes(), path)


def _decode(data: bytes, path: Path) -> str:
    """UTF-8 text of a file, or an error naming the line of the first bad byte."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise InputError(f"not valid UTF-8 (byte 0x{data[e.start]:02x})", path, line) from None
    return text.removeprefix("\ufeff")


def _jsonl_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InputError(f"not valid UTF-8 (byte 0x{raw[e.start]:02x})", path, number) from None
            if number == 1:
                line = line.removeprefix("\ufeff")
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"malformed JSON: {e.msg} (column {e.colno})", path, number) from None
            if not isinstance(record, dict):
                raise InputError(f"expected a JSON object, got {type(record).__name__}", path, number)
            yield number, record


def _csv_records(path: Path, delimiter: str) -> Iterator[tuple[int, dict[str, Any]]]:
    text = read_text(path)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        for row in reader:
            if None in row:
                raise InputError(f"{len(reader.fieldnames or []) + len(row[None])} fields but the header "
                                 f"has {len(reader.fieldnames or [])}", path, reader.line_num)
            yield reader.line_num, row
    except csv.Error as e:  # DictReader.line_num lags one record behind on an error; its reader's does not
        raise InputError(f"malformed CSV: {e}", path, reader.reader.line_num) from None


def _parquet_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises several types for a file that is not parquet
        raise InputError(f"not a readable parquet file ({e})", path) from None
    number = 0
    for batch in parquet.iter_batches(batch_size=8192):
        for row in batch.to_pylist():
            number += 1
            yield number, row


def iter_records(path: Path, fmt: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line or row number, record) for each record of a jsonl, csv, tsv or parquet file."""
    _check_file(path)
    if fmt == "jsonl":
        return _jsonl_records(path)
    if fmt == "parquet":
        return _parquet_records(path)
    return _csv_records(path, "," if fmt == "csv" else "\t")


def _where(path: Path, fmt: str, number: int) -> dict[str, Any]:
    """Keyword arguments that locate record ``number`` in an error message."""
    if fmt == "parquet":
        return {"path": f"{path} (row {number})"}
    return {"path": path, "line": number}


def _id_of(record: dict[str, Any], id_field: str | None, where: dict[str, Any]) -> str:
    if id_field is None:
        id_field = "_id" if "_id" in record else "id"
    value = record.get(id_field)
    if value is None:
        raise InputError("missing id", field=id_field if id_field != "id" else "_id' or 'id", **where)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InputError(f"id must be a string or an integer, got {type(value).__name__}", field=id_field,
                         **where)
    value = str(value)
    if not value.strip():
        raise InputError("empty id", field=id_field, **where)
    return value


def _text_of(record: dict[str, Any], field: str, where: dict[str, Any], required: bool = True) -> str:
    value = record.get(field)
    if value is None:
        if required:
            raise InputError("missing text", field=field, **where)
        return ""
    if not isinstance(value, str):
        raise InputError(f"must be a string, got {type(value).__name__}", field=field, **where)
    return value


def _load_texts(path: str | os.PathLike, fmt: str | None, id_field: str | None, text_field: str,
                title_field: str | None, kind: str) -> dict[str, Any]:
    path = Path(path)
    fmt = _format_of(path, fmt)
    out: dict[str, Any] = {}
    first_line: dict[str, int] = {}
    for number, record in iter_records(path, fmt):
        where = _where(path, fmt, number)
        doc_id = _id_of(record, id_field, where)
        text = _text_of(record, text_field, where)
        if doc_id in out:
            unit = "row" if fmt == "parquet" else "line"
            raise InputError(f"duplicate {kind} id '{doc_id}' (first on {unit} {first_line[doc_id]})", **where)
        first_line[doc_id] = number
        if title_field is None:
            out[doc_id] = text
        else:
            out[doc_id] = Document(text=text, title=_text_of(record, title_field, where, required=False))
    if not out:
        raise InputError(f"empty file: no {kind}s", path)
    return out


def load_corpus(path: str | os.PathLike, *, format: str | None = None, id_field: str | None = None,
                text_field: str = "text", title_field: str = "title") -> Corpus:
    """Read documents from jsonl, csv, tsv or parquet (id column ``_id`` or ``id``, ``text``, optional ``title``)."""
    return _load_texts(path, format, id_field, text_field, title_field, "document")


def load_queries(path: str | os.PathLike, *, format: str | None = None, id_field: str | None = None,
                 text_field: str = "text") -> Queries:
    """Read queries from jsonl, csv, tsv or parquet (id column ``_id`` or ``id``, ``text``)."""
    return _load_texts(path, format, id_field, text_field, None, "query")


def _parse_grade(value: str, path: Path, number: int) -> int:
    if not _is_int(value):
        raise InputError(f"grade '{value}' is not an integer", path, number, field="grade")
    return int(value)


def _read_qrels(path: Path) -> tuple[Qrels, dict[tuple[str, str], int]]:
    text = read_text(path)
    qrels: Qrels = {}
    lines: dict[tuple[str, str], int] = {}
    width = None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t") if "\t" in line else line.split()
        fields = [f.strip() for f in fields]
        if width is None:
            if len(fields) not in (3, 4):
                raise InputError(f"expected 3 tab-separated fields (BEIR: query-id, corpus-id, score) or "
                                 f"4 (TREC: qid iter docid rel), got {len(fields)}", path, number)
            width = len(fields)
            if number == 1 and width == 3 and not _is_number(fields[2]):
                continue  # the BEIR header: query-id corpus-id score (a grade such as 1.5 is an error below)
        if len(fields) != width:
            raise InputError(f"expected {width} fields like the lines above, got {len(fields)}", path, number)
        qid, doc_id, grade = (fields[0], fields[1], fields[2]) if width == 3 else (fields[0], fields[2], fields[3])
        if not qid or not doc_id:
            raise InputError("empty query or document id", path, number)
        grade_value = _parse_grade(grade, path, number)
        judged = qrels.setdefault(qid, {})
        if doc_id in judged:
            raise InputError(f"document '{doc_id}' judged twice for query '{qid}' "
                             f"(first on line {lines[qid, doc_id]})", path, number)
        judged[doc_id] = grade_value
        lines[qid, doc_id] = number
    if not qrels:
        raise InputError("empty file: no judgments", path)
    return qrels, lines


def _is_int(value: str) -> bool:
    """Plain ASCII decimal digits with an optional sign (``int()`` alone would take '1_0' as 10)."""
    return re.fullmatch(r"[+-]?[0-9]+", value) is not None


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def load_qrels(path: str | os.PathLike) -> Qrels:
    """Read judgments in BEIR tsv (``query-id corpus-id score`` with a header) or TREC form (``qid 0 docid rel``)."""
    return _read_qrels(Path(path))[0]


def check_qrels(qrels: Qrels, corpus: Corpus | None = None, queries: Queries | None = None,
                source: str = "qrels", lines: dict[tuple[str, str], int] | None = None) -> None:
    """Warn, with a count and the first example, about judged ids the corpus or the queries lack."""
    if corpus is not None:
        missing = [(q, d) for q, judged in qrels.items() for d in judged if d not in corpus]
        if missing:
            q, d = missing[0]
            at = f" on line {lines[q, d]}" if lines else ""
            warn(f"{source}: {len(missing)} judged document id(s) are not in the corpus (first: '{d}'{at}); "
                 f"they still count as relevant but can never be retrieved")
    if queries is not None:
        missing_q = [q for q in qrels if q not in queries]
        if missing_q:
            warn(f"{source}: {len(missing_q)} judged query id(s) are not in the queries "
                 f"(first: '{missing_q[0]}'); they are not evaluated")


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
    qrels, lines = _read_qrels(qrels_path)
    check_qrels(qrels, corpus, all_queries, source=str(qrels_path), lines=lines)
    queries = {qid: all_queries[qid] for qid in qrels if qid in all_queries}
    return RetrievalData(corpus=corpus, queries=queries, qrels=qrels)


# -- training and pair-classification examples ---------------------------------------------------

EXAMPLE_KINDS = {
    "triplets": ("anchor", "positive", "negative"),
    "labelled": ("text_a", "text_b", "label"),
    "pairs": ("query", "positive"),
}
"""The forms of example files, by the columns that name them (checked in this order)."""


@dataclass
class Examples:
    """Rows of an example file: query-positive pairs, triplets, or labelled pairs (label 1 = similar)."""

    kind: str
    columns: tuple[str, ...]
    rows: list[tuple]

    def column(self, name: str) -> list:
        """One column's values, in row order."""
        position = self.columns.index(name)
        return [row[position] for row in self.rows]


def _label_of(value: Any, where: dict[str, Any]) -> int:
    if isinstance(value, str):
        value = value.strip()
        if value in ("0", "1"):
            return int(value)
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and value in (0, 1):
        return int(value)
    raise InputError(f"label {value!r} must be 0 or 1 (1 = similar)", field="label", **where)


def load_examples(path: str | os.PathLike, *, format: str | None = None) -> Examples:
    """Read training or pair-classification examples; the columns decide the kind.

    ``(anchor, positive, negative)`` are triplets, ``(text_a, text_b, label)`` labelled
    pairs with labels 0/1, ``(query, positive)`` query-positive pairs.
    """
    path = Path(path)
    fmt = _format_of(path, format)
    kind: str | None = None
    columns: tuple[str, ...] = ()
    rows: list[tuple] = []
    for number, record in iter_records(path, fmt):
        where = _where(path, fmt, number)
        if kind is None:
            kind = next((k for k, cols in EXAMPLE_KINDS.items() if all(c in record for c in cols)), None)
            if kind is None:
                forms = "; ".join(f"{k}: {', '.join(cols)}" for k, cols in EXAMPLE_KINDS.items())
                raise InputError(f"columns {', '.join(map(str, record))} match no example form ({forms})", **where)
            columns = EXAMPLE_KINDS[kind]
        row = tuple(_label_of(record.get(c), where) if c == "label" else _text_of(record, c, where)
                    for c in columns)
        rows.append(row)
    if kind is None:
        raise InputError("empty file: no examples", path)
    return Examples(kind=kind, columns=columns, rows=rows)
