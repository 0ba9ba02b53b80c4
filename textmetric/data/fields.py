"""A document's fields: the columns of its input record beyond id, title and text, as JSON values.

A field holds what JSON holds: a string, a number, a boolean, null, or a list or object
of those. Filters (:mod:`textmetric.index.filters`) compare the scalar ones; a list or
object is kept and returned as it came, and no filter ever matches it. Values of other
types are turned into JSON where the meaning is plain (a date or time becomes its ISO
8601 text, a decimal a float, a NaN -- the missing value of pandas -- null) and refused
otherwise. A BEIR ``metadata`` object is flattened: its keys become fields.
"""

from __future__ import annotations

import datetime
import decimal
import math
from typing import Any, Iterable, Mapping

from ..errors import InputError
from .files import check_unicode

__all__ = ["RESERVED_COLUMNS", "METADATA_COLUMN", "KINDS", "MAX_DEPTH", "kind_of", "field_kinds", "record_fields",
           "field_value"]

RESERVED_COLUMNS = frozenset({"_id", "id", "title", "text"})
"""Columns that are never fields, whatever the id, text and title columns are called."""
METADATA_COLUMN = "metadata"
"""BEIR's object of extra fields: its keys become fields of their own."""
KINDS = ("string", "number", "boolean", "null", "json")
"""What a field value is, as the document store records it and filters check it (``json``: a list or object)."""
_INT64 = (-(2 ** 63), 2 ** 63 - 1)
MAX_DEPTH = 100
"""Lists and objects in a field nest no deeper (JSON itself has no limit, but every reader of it has one)."""


def kind_of(value: Any) -> str:
    """The kind of a value :func:`field_value` returned (a bool is a boolean, not a number)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "json"


def field_kinds(fields: Iterable[Mapping[str, Any]]) -> dict[str, frozenset[str]]:
    """Each field name among ``fields`` (the ``fields`` of documents), and the kinds of value it holds."""
    kinds: dict[str, set[str]] = {}
    for record in fields:
        for name, value in record.items():
            kinds.setdefault(name, set()).add(kind_of(value))
    return {name: frozenset(held) for name, held in sorted(kinds.items())}


def field_value(value: Any, where: Mapping[str, Any], name: str, depth: int = 0) -> Any:
    """``value`` as a JSON value (see the module's rules); an InputError at ``where`` for one that has none.
    ``depth``: how many lists and objects hold ``value`` (at most :data:`MAX_DEPTH`)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return check_unicode(value, where, name)
    if isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            raise InputError(f"integer {value} is out of the 64-bit range fields hold", field=name, **where)
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            raise InputError("an infinite number cannot be a field value (JSON has none)", field=name, **where)
        return value
    if isinstance(value, decimal.Decimal):
        return field_value(float(value), where, name)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (list, tuple, Mapping)) and depth >= MAX_DEPTH:
        raise InputError(f"lists and objects nested more than {MAX_DEPTH} deep", field=name, **where)
    if isinstance(value, (list, tuple)):
        return [field_value(item, where, name, depth + 1) for item in value]
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            raise InputError("an object field must have string keys", field=name, **where)
        return {check_unicode(key, where, name): field_value(item, where, name, depth + 1)
                for key, item in value.items()}
    raise InputError(f"a value of type {type(value).__name__} cannot be a field (fields hold strings, numbers, "
                     f"booleans, null, lists and objects)", field=name, **where)


def record_fields(record: Mapping[str, Any], reserved: frozenset[str] | set[str],
                  where: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a record: every column not in ``reserved`` (nor :data:`RESERVED_COLUMNS`), in column
    order, with the keys of a ``metadata`` object in place of it."""
    fields: dict[str, Any] = {}
    for name, value in record.items():
        if name in reserved or name in RESERVED_COLUMNS:
            continue
        if name == METADATA_COLUMN and (value is None or isinstance(value, Mapping)):
            for key, item in (value or {}).items():
                if not isinstance(key, str):
                    raise InputError("an object field must have string keys", field=name, **where)
                if key in record or key in fields or key in reserved or key in RESERVED_COLUMNS:
                    raise InputError(f"'{key}' is both a column and a key of '{METADATA_COLUMN}'", field=name,
                                     **where)
                fields[check_unicode(key, where, name)] = field_value(item, where, f"{METADATA_COLUMN}.{key}")
            continue
        fields[check_unicode(name, where, name)] = field_value(value, where, name)
    return fields
