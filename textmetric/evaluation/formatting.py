"""How scores are shown: plain-text tables, and JSON that holds no NaN or infinity."""

from __future__ import annotations

import json
import math
import numbers
from typing import Any, Mapping, Sequence

__all__ = ["text_table", "format_table", "format_modes_table", "finite_or_none", "json_safe", "to_json"]


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns as wide as their widest cell, two spaces apart: the first left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in [header, *rows])
    return "\n".join(lines)


def format_table(means: Mapping[str, float], num_queries: int) -> str:
    """A two-column text table of metric means, four decimals."""
    width = max(len("queries"), *(len(name) for name in means))
    lines = [f"{name:<{width}}  {value:.4f}" for name, value in means.items()]
    lines.append(f"{'queries':<{width}}  {num_queries}")
    return "\n".join(lines)


def format_modes_table(columns: Mapping[str, Mapping[str, float]], num_queries: int) -> str:
    """Metric means side by side, one column per system (a blank where a system lacks a metric)."""
    names = list(dict.fromkeys(name for means in columns.values() for name in means))
    width = max(len("queries"), len("metric"), *(len(name) for name in names))
    cell = max(7, *(len(mode) for mode in columns))
    lines = ["  ".join([f"{'metric':<{width}}", *(f"{mode:>{cell}}" for mode in columns)])]
    for name in names:
        values = (f"{means[name]:>{cell}.4f}" if name in means else " " * cell for means in columns.values())
        lines.append("  ".join([f"{name:<{width}}", *values]).rstrip())
    lines.append("  ".join([f"{'queries':<{width}}", *(f"{num_queries:>{cell}}" for _ in columns)]))
    return "\n".join(lines)


def finite_or_none(value):
    """``value``, or None where it is a NaN or an infinity (JSON has neither); a numpy number as a Python one."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    return float(value) if math.isfinite(value) else None


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinity in it (in dicts, lists and tuples, at any depth) made None."""
    if isinstance(value, Mapping):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return finite_or_none(value)


def to_json(value: Any, **options) -> str:
    """JSON text of ``value``, its non-finite numbers as null, by a strict encoder (``allow_nan=False``): every
    JSON textmetric prints or writes goes through here, so none holds the NaN that JSON parsers refuse.
    ``options`` are ``json.dumps``'s (``indent``, ``default``...)."""
    return json.dumps(json_safe(value), allow_nan=False, **options)
