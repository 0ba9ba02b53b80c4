"""Relevance judgments (qrels): BEIR and TREC text, record files and datasets, or a dict; integer grades.

Text files are BEIR tsv (``query-id corpus-id score``, a header line) or TREC
(``qid iter docid rel``). Records -- jsonl, csv, parquet, ``.arrow``, a ``datasets``
``save_to_disk`` folder or a ``datasets.Dataset`` -- carry the BEIR column names
(``query-id``, ``corpus-id``, ``score``, as the BEIR qrels on the Hugging Face Hub do)
or the TREC ones (``qid``, ``docid``, ``rel``). A dict is ``{query_id: {doc_id: grade}}``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from ..errors import InputError, warn
from .files import SUFFIXES, check_file, decode
from .records import Corpus, Qrels, Queries
from .sources import DICT_NAME, Records, check_id, id_of, is_record_source, records_of, unsupported

if TYPE_CHECKING:
    from datasets import Dataset

__all__ = ["load_qrels", "check_qrels", "read_qrels_text", "QRELS_COLUMNS", "QrelsSource"]

QrelsSource = Union[str, os.PathLike, "Dataset", Mapping[str, Mapping[str, int]]]
QRELS_COLUMNS = {"BEIR": ("query-id", "corpus-id", "score"), "TREC": ("qid", "docid", "rel")}
"""The column names of qrels records: query id, document id, grade."""
RECORD_SUFFIXES = tuple(s for s, fmt in SUFFIXES.items() if fmt != "tsv")
"""Qrels files read as records; any other file is BEIR or TREC text."""
_FORMS = ("BEIR tsv or TREC text, a jsonl/csv/parquet/arrow file or `datasets` save_to_disk folder with "
          "columns query-id, corpus-id, score (or qid, docid, rel), a datasets.Dataset, or a dict "
          "{query_id: {doc_id: grade}}")


def _is_int(value: str) -> bool:
    """Plain ASCII decimal digits with an optional sign (``int()`` alone would take '1_0' as 10)."""
    return re.fullmatch(r"[+-]?[0-9]+", value) is not None


def _grade_of(value: Any, where: dict[str, Any], field: str | None = None) -> int:
    """An integer grade from an int, an integral float (a parquet float column) or a string of digits."""
    if isinstance(value, str) and _is_int(value.strip()):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value is None:
        raise InputError("missing grade", field=field, **where)
    raise InputError(f"grade {value!r} is not an integer", field=field, **where)


def read_qrels_text(path: Path) -> tuple[Qrels, dict[tuple[str, str], int]]:
    """Judgments of a BEIR tsv or TREC text file, with the line of each (for warnings that name it)."""
    check_file(path)
    hint = f": qrels files are text (BEIR tsv, TREC) or, by their suffix, {', '.join(RECORD_SUFFIXES)}"
    text = decode(path.read_bytes(), path, hint)
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
            if number == 1 and tuple(fields) == QRELS_COLUMNS["BEIR"]:
                continue  # BEIR's header, and only it: any other first line is read as a judgment
        if len(fields) != width:
            raise InputError(f"expected {width} fields like the lines above, got {len(fields)}", path, number)
        qid, doc_id, grade = (fields[0], fields[1], fields[2]) if width == 3 else (fields[0], fields[2], fields[3])
        if not qid or not doc_id:
            raise InputError("empty query or document id", path, number)
        if not _is_int(grade):
            raise InputError(f"grade '{grade}' is not an integer", path, number, field="grade")
        judged = qrels.setdefault(qid, {})
        if doc_id in judged:
            raise InputError(f"document '{doc_id}' judged twice for query '{qid}' "
                             f"(first on line {lines[qid, doc_id]})", path, number)
        judged[doc_id] = int(grade)
        lines[qid, doc_id] = number
    if not qrels:
        raise InputError("empty file: no judgments", path)
    return qrels, lines


def _qrels_of_records(records: Records) -> Qrels:
    qrels: Qrels = {}
    first: dict[tuple[str, str], int] = {}
    columns: tuple[str, ...] | None = None
    for number, record in records:
        where = records.where(number)
        if columns is None:
            columns = next((c for c in QRELS_COLUMNS.values() if all(name in record for name in c)), None)
            if columns is None:
                forms = " or ".join(", ".join(c) for c in QRELS_COLUMNS.values())
                raise InputError(f"columns {', '.join(map(str, record))} are not qrels columns "
                                 f"(expected {forms})", **where)
        qid, doc_id = id_of(record, columns[0], where), id_of(record, columns[1], where)
        grade = _grade_of(record.get(columns[2]), where, columns[2])
        judged = qrels.setdefault(qid, {})
        if doc_id in judged:
            raise InputError(f"document '{doc_id}' judged twice for query '{qid}' "
                             f"(first on {records.unit} {first[qid, doc_id]})", **where)
        judged[doc_id] = grade
        first[qid, doc_id] = number
    if not qrels:
        raise records.empty("judgments")
    return qrels


def _qrels_of_dict(source: Mapping) -> Qrels:
    qrels: Qrels = {}
    for key, judged in source.items():
        where = {"path": f"{DICT_NAME} (query '{key}')"}
        qid = check_id(key, where)
        if not isinstance(judged, Mapping):
            raise InputError(f"expected a dict {{doc_id: grade}}, got {type(judged).__name__}", **where)
        if qid in qrels:
            raise InputError(f"duplicate query id '{qid}'", **where)
        qrels[qid] = {}
        for doc_key, grade in judged.items():
            at = {"path": f"{DICT_NAME} (query '{key}', document '{doc_key}')"}
            doc_id = check_id(doc_key, at)
            if doc_id in qrels[qid]:
                raise InputError(f"document '{doc_id}' judged twice for query '{qid}'", **at)
            qrels[qid][doc_id] = _grade_of(grade, at)
    return qrels


def load_qrels(source: QrelsSource) -> Qrels:
    """Judgments from BEIR tsv (``query-id corpus-id score``, a header) or TREC text (``qid 0 docid rel``);
    from jsonl/csv/parquet/arrow records, a saved or in-memory ``datasets.Dataset`` (columns ``query-id``,
    ``corpus-id``, ``score`` or ``qid``, ``docid``, ``rel``); or from a dict ``{query_id: {doc_id: grade}}``."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_file() and path.suffix.lower() not in RECORD_SUFFIXES:
            return read_qrels_text(path)[0]
        if not path.exists():
            raise InputError("no such file", path)
    if is_record_source(source):
        return _qrels_of_records(records_of(source))
    if isinstance(source, Mapping):
        return _qrels_of_dict(source)
    raise unsupported(source, "qrels", _FORMS)


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
