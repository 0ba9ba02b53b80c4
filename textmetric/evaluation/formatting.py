"""How scores are shown: plain-text tables, and numbers safe to put in JSON."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

__all__ = ["text_table", "format_table", "format_modes_table", "finite_or_none"]


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
    """``value``, or None where it is a NaN or an infinity (JSON has neither)."""
    return None if isinstance(value, float) and not math.isfinite(value) else value
