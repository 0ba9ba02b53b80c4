"""Filters: which documents a search may return, judged by their fields (:mod:`textmetric.data.fields`).

One JSON-friendly spec, the same in Python, on the command line and over HTTP::

    {"lang": "en"}                               the field equals the value
    {"lang": {"$in": ["en", "de"]}}              equals one of the values
    {"status": {"$ne": "retracted"}}             is missing, or holds another value
    {"year": {"$gte": 2000, "$lt": 2010}}        $gt, $gte, $lt, $lte: numbers, or strings in code-point order
    {"lang": "en", "year": {"$gte": 2000}}       several fields, or several operators: all must hold (AND)

Operators: ``$eq`` (what a bare value means), ``$ne``, ``$in``, ``$gt``, ``$gte``, ``$lt``,
``$lte``. Values are strings, numbers, booleans or null (a list for ``$in``); a number
equals the same number whatever its type (``3 == 3.0``), and never equals a string
(``3 != "3"``), nor a boolean. A field holding a list or object matches no filter.

A filter is checked against the index before any search: a field that no document has,
or a value of a type the field never holds (a number for a field of strings), is an
``InputError`` -- a filter that cannot match by mistake fails loudly, while one that
simply matches nothing returns no hits. ``null`` is always allowed (it matches the
documents whose field is null).

On the command line, ``--filter FIELD=VALUE`` (repeatable; all must hold) with the
operators ``=``, ``!=``, ``>``, ``>=``, ``<``, ``<=``; VALUE is read as JSON when it is a
JSON number, ``true``, ``false``, ``null``, a quoted string or a list (``=`` then means
``$in``), else as the text it is; or ``--filter '{"year": {"$gte": 2000}}'``, the spec itself.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, replace
from typing import Any, Callable, Collection, Iterable, Mapping, Union

from ..data.fields import kind_of
from ..errors import InputError

__all__ = ["OPERATORS", "RANGE_OPERATORS", "Condition", "Filter", "FilterSpec", "parse_filter", "checked_filter",
           "parse_cli_filters"]

OPERATORS = ("$eq", "$ne", "$in", "$gt", "$gte", "$lt", "$lte")
RANGE_OPERATORS = ("$gt", "$gte", "$lt", "$lte")
CLI_OPERATORS = {"==": "$eq", "=": "$eq", "!=": "$ne", ">=": "$gte", "<=": "$lte", ">": "$gt", "<": "$lt"}
_CLI_ITEM = re.compile(r"^\s*(?P<field>[^=!<>]+?)\s*(?P<op>==|!=|>=|<=|=|>|<)(?P<value>.*)$", re.DOTALL)
_PLURAL = {"string": "strings", "number": "numbers", "boolean": "booleans", "null": "null",
           "json": "lists or objects"}

Scalar = Union[str, int, float, bool, None]


@dataclass(frozen=True)
class Condition:
    """One test of one field: ``op`` is one of :data:`OPERATORS`; ``value`` a scalar, a tuple for ``$in``."""

    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class Filter:
    """Conditions that must all hold. ``checked``: already checked against the fields of the index
    being searched (:meth:`check`), so that shards searched together check it once, against them all."""

    conditions: tuple[Condition, ...]
    checked: bool = False

    @property
    def fields(self) -> list[str]:
        """The fields it tests, in order."""
        return list(dict.fromkeys(c.field for c in self.conditions))

    def check(self, kinds: Mapping[str, Collection[str]]) -> "Filter":
        """This filter, checked against the kinds of value each field holds (``{field: {"string", ...}}``):
        an InputError for a field no document has or a value of a type the field never holds."""
        for condition in self.conditions:
            held = kinds.get(condition.field)
            if not held:
                known = ", ".join(f"'{name}'" for name in sorted(kinds)[:20]) or "none"
                more = ", ..." if len(kinds) > 20 else ""
                raise InputError(f"filter: unknown field '{condition.field}' (the documents' fields: {known}{more})")
            values = condition.value if condition.op == "$in" else (condition.value,)
            for value in values:
                kind = kind_of(value)
                if kind != "null" and kind not in held:
                    holds = " and ".join(_PLURAL[k] for k in sorted(held))
                    raise InputError(f"filter on '{condition.field}': the field holds {holds}, not "
                                     f"{_PLURAL[kind]} ({json.dumps(value)})")
        return replace(self, checked=True)


FilterSpec = Union[Filter, Mapping[str, Any], None]


def parse_filter(spec: FilterSpec) -> Filter | None:
    """A filter from its JSON spec (see the module), or None for no filter (``None`` or ``{}``);
    an InputError naming the field for anything malformed."""
    if spec is None or isinstance(spec, Filter):
        return spec
    if not isinstance(spec, Mapping):
        raise InputError(f"a filter is an object {{field: value or {{operator: value}}}}, got "
                         f"{type(spec).__name__}")
    conditions: list[Condition] = []
    for name, test in spec.items():
        if not isinstance(name, str) or not name:
            raise InputError(f"filter: a field name must be a non-empty string, got {name!r}")
        if isinstance(test, Mapping):
            if not test:
                raise InputError(f"filter on '{name}': give a value or at least one operator")
            conditions += [_condition(name, op, value) for op, value in test.items()]
        else:
            conditions.append(_condition(name, "$eq", test))
    return Filter(tuple(conditions)) if conditions else None


def checked_filter(spec: FilterSpec, field_kinds: Callable[[], Mapping[str, Collection[str]]]) -> Filter | None:
    """``spec`` parsed and checked against the fields ``field_kinds()`` gives (called only when there is
    something to check): what an index does with the filter it is given before searching."""
    parsed = parse_filter(spec)
    return parsed if parsed is None or parsed.checked else parsed.check(field_kinds())


def _condition(name: str, op: Any, value: Any) -> Condition:
    where = f"filter on '{name}'"
    if op not in OPERATORS:
        raise InputError(f"{where}: unknown operator {json.dumps(op) if isinstance(op, str) else repr(op)} "
                         f"(expected one of {', '.join(OPERATORS)})")
    if op == "$in":
        if not isinstance(value, (list, tuple)):
            raise InputError(f"{where}: $in takes a list of values, got {_type_name(value)}")
        return Condition(name, op, tuple(_scalar(v, where) for v in value))
    value = _scalar(value, where)
    if op in RANGE_OPERATORS and kind_of(value) not in ("number", "string"):
        raise InputError(f"{where}: {op} compares numbers or strings, got {json.dumps(value)}")
    return Condition(name, op, value)


def _scalar(value: Any, where: str) -> Scalar:
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InputError(f"{where}: {value} is not a number a field can hold")
        return value
    raise InputError(f"{where}: expected a string, a number, a boolean or null, got {_type_name(value)}")


def _type_name(value: Any) -> str:
    return {list: "a list", tuple: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def parse_cli_filters(items: Iterable[str]) -> Filter | None:
    """The filter of ``--filter`` arguments (all must hold): each ``FIELD OP VALUE`` or a JSON spec."""
    conditions: list[Condition] = []
    for item in items:
        parsed = parse_filter(_cli_spec(item))
        if parsed is not None:
            conditions += parsed.conditions
    return Filter(tuple(conditions)) if conditions else None


def _cli_spec(item: str) -> Mapping[str, Any]:
    if item.lstrip().startswith("{"):
        try:
            spec = json.loads(item, parse_constant=_no_constant)
        except ValueError as e:
            raise InputError(f"--filter {item}: malformed JSON ({e})") from None
        except RecursionError:
            raise InputError("--filter: malformed JSON (nested too deeply to read)") from None
        return spec
    match = _CLI_ITEM.match(item)
    if match is None:
        raise InputError(f"--filter takes FIELD=VALUE (or !=, >, >=, <, <=), or a JSON object; got '{item}'")
    name, op, value = match["field"], CLI_OPERATORS[match["op"]], _cli_value(match["value"])
    if isinstance(value, list):
        if op != "$eq":
            raise InputError(f"--filter {item}: a list of values goes with = (one of them)")
        op = "$in"
    return {name: {op: value}}


def _cli_value(text: str) -> Any:
    """A JSON scalar or list when ``text`` is one (``2020``, ``true``, ``"2020"``, ``["en", "de"]``), else the text."""
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return text
    return value if not isinstance(value, dict) else text


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")
