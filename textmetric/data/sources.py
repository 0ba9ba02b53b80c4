"""Where records come from, and how an error names where one of them is.

A source is a record file (jsonl, csv, tsv, parquet, Arrow), a ``datasets``
``save_to_disk`` folder, or a ``datasets.Dataset``. Each becomes ``Records``:
numbered records plus the name an error gives them -- ``<file>:<line>`` for a
text file, ``<file> (row N)`` for parquet and Arrow files and saved datasets,
``<dataset> (row N)`` for a ``Dataset`` object, ``<dict> (...)`` for a dict.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..errors import InputError
from .files import ROW_FORMATS, check_unicode, format_of, iter_records
from .hf_datasets import (SAVED_DATASET_FILES, dataset_records, is_dataset, is_dataset_dict, load_saved, saved_form,
                          splits_problem)

__all__ = ["Records", "records_of", "is_record_source", "source_name", "unsupported", "id_of", "text_of",
           "DATASET_NAME", "DICT_NAME"]

DATASET_NAME = "<dataset>"
"""What errors call a ``datasets.Dataset`` passed in Python."""
DICT_NAME = "<dict>"
"""What errors call a dict passed in Python."""


@dataclass
class Records:
    """Numbered records of one source, and how an error names the source and a record in it."""

    name: str
    unit: str  # "line" or "row"
    what: str  # "file" or "dataset", as in "empty file"
    items: Iterable[tuple[int, dict[str, Any]]]

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any]]]:
        return iter(self.items)

    def where(self, number: int) -> dict[str, Any]:
        """``InputError`` keyword arguments that locate record ``number``."""
        if self.unit == "row":
            return {"path": f"{self.name} (row {number})"}
        return {"path": self.name, "line": number}

    def empty(self, things: str) -> InputError:
        """The error for a source without a single record."""
        return InputError(f"empty {self.what}: no {things}", self.name)


def is_record_source(source: Any) -> bool:
    """Whether ``records_of`` reads ``source``: a path, a ``Dataset`` (or a ``DatasetDict``, to refuse it)."""
    return isinstance(source, (str, os.PathLike)) or is_dataset(source) or is_dataset_dict(source)


def records_of(source: Any, fmt: str | None = None, beir_file: str | None = None,
               folder_forms: str = "") -> Records:
    """The records of a file, a ``save_to_disk`` folder or a ``Dataset``.

    ``beir_file``: the file a BEIR folder holds these records in (``corpus.jsonl``),
    read when ``source`` is such a folder; ``folder_forms`` names it in the error
    for a folder that is neither.
    """
    if is_dataset(source):
        return Records(DATASET_NAME, "row", "dataset", dataset_records(source))
    if is_dataset_dict(source):
        splits = list(source)
        raise InputError(splits_problem(splits, f"dataset['{splits[0] if splits else 'SPLIT'}']"), DATASET_NAME)
    path = Path(source)
    if path.is_dir():
        if beir_file is not None and (path / beir_file).is_file():
            path = path / beir_file
        elif saved_form(path) is not None:
            return Records(str(path), "row", "dataset", dataset_records(load_saved(path)))
        else:
            saved = f"a `datasets` save_to_disk folder ({' and '.join(SAVED_DATASET_FILES)})"
            expected = f"neither {folder_forms} nor {saved}" if folder_forms else f"not {saved}"
            raise InputError(f"is a folder, but {expected}", path)
    fmt = format_of(path, fmt)
    return Records(str(path), "row" if fmt in ROW_FORMATS else "line", "file", iter_records(path, fmt))


def source_name(source: Any) -> str:
    """A short name of a source for logs: its path, ``<dataset>`` or ``<dict>``."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if is_dataset(source) or is_dataset_dict(source):
        return DATASET_NAME
    return f"<{type(source).__name__}>"


def unsupported(source: Any, what: str, forms: str) -> InputError:
    """The error for a Python object that is no form of ``what``."""
    return InputError(f"cannot read {what} from an object of type {type(source).__name__} (give {forms})")


def id_of(record: dict[str, Any], id_field: str | None, where: dict[str, Any]) -> str:
    """The record's id as a string (``_id`` or ``id`` unless ``id_field`` names the column)."""
    if id_field is None:
        id_field = "_id" if "_id" in record else "id"
    value = record.get(id_field)
    if value is None:
        raise InputError("missing id", field=id_field if id_field != "id" else "_id' or 'id", **where)
    return check_id(value, where, id_field)


def check_id(value: Any, where: dict[str, Any], field: str | None = None) -> str:
    """A string or integer id as a non-empty string of text (no lone surrogate)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InputError(f"id must be a string or an integer, got {type(value).__name__}", field=field, **where)
    value = str(value)
    if not value.strip():
        raise InputError("empty id", field=field, **where)
    return check_unicode(value, where, field)


def text_of(record: dict[str, Any], field: str, where: dict[str, Any], required: bool = True) -> str:
    """The record's text in ``field`` ("" for a missing optional one)."""
    value = record.get(field)
    if value is None:
        if required:
            raise InputError("missing text", field=field, **where)
        return ""
    if not isinstance(value, str):
        raise InputError(f"must be a string, got {type(value).__name__}", field=field, **where)
    return check_unicode(value, where, field)
