"""Record files: jsonl, csv, tsv, parquet and Arrow, read as numbered records, bad bytes named by line.

A record is a ``dict`` of column name to value. Text formats (jsonl, csv, tsv) number
records by line, so that an error names ``<file>:<line>``; columnar ones (parquet,
Arrow) by row, ``<file> (row N)``, counting from 1.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path
from typing import Any, Iterator

from ..errors import InputError

__all__ = ["FORMATS", "SUFFIXES", "ROW_FORMATS", "format_of", "check_file", "read_text", "decode", "iter_records",
           "check_unicode"]

FORMATS = ("jsonl", "csv", "tsv", "parquet", "arrow")
SUFFIXES = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv",
            ".parquet": "parquet", ".pq": "parquet", ".arrow": "arrow"}
ROW_FORMATS = ("parquet", "arrow")
"""Formats whose records are rows, not lines."""


def format_of(path: Path, fmt: str | None) -> str:
    """The format named by ``fmt``, else the one the file's suffix names."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise InputError(f"unknown format '{fmt}' (expected one of {', '.join(FORMATS)})", path)
        return fmt
    try:
        return SUFFIXES[path.suffix.lower()]
    except KeyError:
        raise InputError(f"cannot tell the format from the suffix '{path.suffix}' "
                         f"(expected .jsonl, .csv, .tsv, .parquet or .arrow)", path) from None


def check_file(path: Path) -> None:
    """Refuse a path that does not exist or is a folder."""
    if not path.exists():
        raise InputError("no such file", path)
    if path.is_dir():
        raise InputError("is a folder, expected a file", path)


def read_text(path: str | os.PathLike) -> str:
    """A whole UTF-8 text file, or an ``InputError`` naming the line of its first bad byte."""
    path = Path(path)
    check_file(path)
    return decode(path.read_bytes(), path)


def decode(data: bytes, path: Path, hint: str = "") -> str:
    """UTF-8 text of a file, or an error naming the line of the first bad byte (and ``hint``)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise InputError(f"not valid UTF-8 (byte 0x{data[e.start]:02x}){hint}", path, line) from None
    return text.removeprefix("\ufeff")


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def check_unicode(value: str, where: dict[str, Any], field: str | None = None) -> str:
    """``value``, or an InputError at ``where`` when it holds a lone surrogate: half of a UTF-16 pair, not a
    character (from a JSON escape such as "\\ud800", or a byte a file name could not decode), which no UTF-8
    file, tokenizer or database can take."""
    found = _SURROGATE.search(value)
    if found is not None:
        raise InputError(f"holds a lone surrogate {ascii(found.group())[1:-1]} at character {found.start() + 1}: "
                         f"half of a UTF-16 pair, not text", field=field, **where)
    return value


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
            except RecursionError:
                raise InputError("malformed JSON: nested too deeply to read", path, number) from None
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
    """(line or row number, record) for each record of a jsonl, csv, tsv, parquet or Arrow file."""
    check_file(path)
    if fmt == "jsonl":
        return _jsonl_records(path)
    if fmt == "parquet":
        return _parquet_records(path)
    if fmt == "arrow":
        from .hf_datasets import arrow_file_records

        return arrow_file_records(path)
    return _csv_records(path, "," if fmt == "csv" else "\t")
