"""Hugging Face ``datasets`` as record sources: a ``Dataset``, a ``save_to_disk`` folder, an ``.arrow`` file.

Everything here reads local files (``load_from_disk`` on a local folder,
``Dataset.from_file``), so nothing reaches the network. ``datasets`` is imported
only when one of these is read: an object is recognised through the module the
caller already imported, a folder by the files ``save_to_disk`` writes.
A ``DatasetDict`` (several splits) is refused with the splits named: give one.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Iterator

from ..errors import InputError

__all__ = ["is_dataset", "is_dataset_dict", "saved_form", "is_saved_dataset", "load_saved", "dataset_records",
           "arrow_file_records", "SAVED_DATASET_FILES", "SAVED_DICT_FILE"]

SAVED_DATASET_FILES = ("dataset_info.json", "state.json")
"""What ``Dataset.save_to_disk`` writes beside its ``.arrow`` shards."""
SAVED_DICT_FILE = "dataset_dict.json"
"""What ``DatasetDict.save_to_disk`` writes beside one folder per split."""
_BATCH = 8192


def _module():
    return sys.modules.get("datasets")


def is_dataset(obj: Any) -> bool:
    """Whether ``obj`` is a ``datasets.Dataset`` (without importing ``datasets`` to find out)."""
    module = _module()
    return module is not None and isinstance(obj, module.Dataset)


def is_dataset_dict(obj: Any) -> bool:
    """Whether ``obj`` is a ``datasets.DatasetDict``: several splits, of which a loader needs one."""
    module = _module()
    return module is not None and isinstance(obj, module.DatasetDict)


def saved_form(folder: Path) -> str | None:
    """``"dataset"`` for a ``Dataset.save_to_disk`` folder, ``"dict"`` for a ``DatasetDict`` one, else None."""
    if all((folder / name).is_file() for name in SAVED_DATASET_FILES):
        return "dataset"
    if (folder / SAVED_DICT_FILE).is_file():
        return "dict"
    return None


def is_saved_dataset(folder: Path) -> bool:
    """Whether ``folder`` was written by ``save_to_disk`` (a ``Dataset`` or a ``DatasetDict``)."""
    return saved_form(folder) is not None


def splits_problem(splits: list[str], example: str) -> str:
    """What to say of a ``DatasetDict``: its splits, and how to give one of them."""
    listed = ", ".join(splits) or "none"
    return f"a DatasetDict of splits ({listed}): give one split, e.g. {example}"


def _saved_splits(folder: Path) -> list[str]:
    try:
        splits = json.loads((folder / SAVED_DICT_FILE).read_text(encoding="utf-8")).get("splits", [])
    except (OSError, ValueError, AttributeError):
        splits = []
    return [str(s) for s in splits] if isinstance(splits, list) else []


def load_saved(folder: Path) -> Any:
    """The ``Dataset`` of a ``save_to_disk`` folder (memory-mapped, read locally)."""
    if saved_form(folder) == "dict":
        splits = _saved_splits(folder)
        raise InputError(splits_problem(splits, str(folder / (splits[0] if splits else "SPLIT"))), folder)
    import datasets

    try:
        loaded = datasets.load_from_disk(str(folder))
    except Exception as e:  # datasets and pyarrow raise many types for a damaged folder
        raise InputError(f"not a readable `datasets` save_to_disk folder ({_first_line(e)})", folder) from None
    return loaded


def dataset_records(dataset: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number from 1, record) for each row of a ``Dataset``, whatever format it was set to."""
    number = 0
    for table in dataset.with_format("arrow").iter(batch_size=_BATCH):
        for row in table.to_pylist():
            number += 1
            yield number, row


def arrow_file_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number from 1, record) for each row of an Arrow file: the stream ``datasets`` writes, or an IPC file."""
    import datasets
    import pyarrow as pa

    try:
        dataset = datasets.Dataset.from_file(str(path))
    except pa.ArrowInvalid:
        dataset = None  # not an Arrow stream: perhaps the IPC file format (Feather v2)
    if dataset is not None:
        yield from dataset_records(dataset)
        return
    try:
        reader = pa.ipc.open_file(pa.memory_map(str(path)))
    except (pa.ArrowInvalid, OSError) as e:
        raise InputError(f"not a readable Arrow file ({_first_line(e)})", path) from None
    number = 0
    for i in range(reader.num_record_batches):
        for row in reader.get_batch(i).to_pylist():
            number += 1
            yield number, row


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
