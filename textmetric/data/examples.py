"""Training and pair-classification examples: query-positive pairs, triplets, or labelled pairs.

From a record file (jsonl, csv, tsv, parquet, ``.arrow``), a ``datasets``
``save_to_disk`` folder, a ``datasets.Dataset``, or a dict of columns (what
``Dataset.from_dict`` takes); the columns decide the kind.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

from ..errors import InputError
from .sources import DICT_NAME, Records, is_record_source, records_of, text_of, unsupported

if TYPE_CHECKING:
    from datasets import Dataset

__all__ = ["EXAMPLE_KINDS", "Examples", "ExamplesSource", "load_examples"]

ExamplesSource = Union[str, os.PathLike, "Dataset", Mapping[str, Sequence]]
EXAMPLE_KINDS = {
    "triplets": ("anchor", "positive", "negative"),
    "labelled": ("text_a", "text_b", "label"),
    "pairs": ("query", "positive"),
}
"""The forms of example files, by the columns that name them (checked in this order)."""
_FORMS = ("an example file, a `datasets` save_to_disk folder, a datasets.Dataset, or a dict of columns "
          "{column: [values]}")


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


def _records_of_columns(columns: Mapping) -> Records:
    """A dict of equally long columns as numbered rows."""
    lengths = {}
    for name, values in columns.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise InputError(f"expected a list of values, got {type(values).__name__}", DICT_NAME, field=str(name))
        lengths[str(name)] = len(values)
    if len(set(lengths.values())) > 1:
        raise InputError(f"columns differ in length ({', '.join(f'{n}: {k}' for n, k in lengths.items())})",
                         DICT_NAME)
    rows = (dict(zip(columns, values)) for values in zip(*columns.values()))
    return Records(DICT_NAME, "row", "dict", enumerate(rows, start=1))


def load_examples(source: ExamplesSource, *, format: str | None = None) -> Examples:
    """Read training or pair-classification examples; the columns decide the kind.

    ``(anchor, positive, negative)`` are triplets, ``(text_a, text_b, label)`` labelled
    pairs with labels 0/1, ``(query, positive)`` query-positive pairs.
    """
    if is_record_source(source):
        records = records_of(source, format)
    elif isinstance(source, Mapping):
        records = _records_of_columns(source)
    else:
        raise unsupported(source, "examples", _FORMS)
    kind: str | None = None
    columns: tuple[str, ...] = ()
    rows: list[tuple] = []
    for number, record in records:
        where = records.where(number)
        if kind is None:
            kind = next((k for k, cols in EXAMPLE_KINDS.items() if all(c in record for c in cols)), None)
            if kind is None:
                forms = "; ".join(f"{k}: {', '.join(cols)}" for k, cols in EXAMPLE_KINDS.items())
                raise InputError(f"columns {', '.join(map(str, record))} match no example form ({forms})", **where)
            columns = EXAMPLE_KINDS[kind]
        row = tuple(_label_of(record.get(c), where) if c == "label" else text_of(record, c, where)
                    for c in columns)
        rows.append(row)
    if kind is None:
        raise records.empty("examples")
    return Examples(kind=kind, columns=columns, rows=rows)
