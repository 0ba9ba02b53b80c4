"""The index folder on disk: its manifest, the files' checksums, the format version, the atomic swap.

::

    my-index/
      manifest.json   format version, model identity, dim, space, count, HNSW parameters, file checksums
      hnsw.bin        the hnswlib graph
      docs.sqlite     label <-> doc id <-> title and text
      lexical/        optional: the BM25 side (see ``lexical.py``), rebuilt from the live documents

Every field of ``manifest.json`` is written and read here (:class:`Manifest`); the
parts write and read their own files. A save writes a complete new folder beside the
target and swaps it into place (:func:`textmetric.atomic.atomic_folder`), so a crash at
any moment leaves the previous index or the new one, never a mix. No pickle anywhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

from ..atomic import recover_interrupted_replace
from ..errors import InputError
from .lexical import LexicalSettings
from .vectors import HNSW_SEED, SPACES

__all__ = ["Manifest", "read_manifest", "open_folder", "check_replaceable", "write_manifest", "index_exists",
           "file_digest", "FORMAT", "FORMAT_VERSION", "MANIFEST", "GRAPH", "DOCS", "LEXICAL"]

FORMAT = "textmetric-index"
FORMAT_VERSION = 1
MANIFEST, GRAPH, DOCS, LEXICAL = "manifest.json", "hnsw.bin", "docs.sqlite", "lexical"


@dataclass(frozen=True)
class Manifest:
    """What ``manifest.json`` records: the index's shape, its HNSW parameters, its model, its files."""

    dim: int
    space: str
    count: int                      # live documents
    m: int
    ef_construction: int
    ef: int
    elements: int                   # vectors in the graph, deleted ones included
    next_label: int
    seed: int = HNSW_SEED
    model: dict | None = None       # the model's identity (name, weights hash, ...), as building records it
    shard: tuple[int, int] | None = None           # (i, N): this index holds shard i of N
    lexical: LexicalSettings | None = None         # the BM25 side's settings, None without one
    files: dict = field(default_factory=dict)      # name -> {"bytes", "sha256"}: the graph and the documents
    lexical_files: dict = field(default_factory=dict)  # the same for the files under lexical/

    def to_dict(self) -> dict:
        """The JSON record; without ``files`` and ``saved_at`` until :func:`write_manifest` adds them."""
        record = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "model": self.model, "dim": self.dim,
            "space": self.space, "normalized": self.space == "cosine", "count": self.count,
            "hnsw": {"M": self.m, "ef_construction": self.ef_construction, "ef": self.ef,
                     "elements": self.elements, "next_label": self.next_label, "seed": self.seed},
        }
        if self.shard is not None:
            record["shard"] = {"index": self.shard[0], "count": self.shard[1]}
        if self.lexical is not None:
            record["lexical"] = {"library": "bm25s", "settings": self.lexical.to_dict()}
            if self.lexical_files:
                record["lexical"].update(count=self.count, files=self.lexical_files)
        if self.files:
            record["files"] = self.files
        return record

    @classmethod
    def from_dict(cls, record: object, source: Path) -> "Manifest":
        """A manifest read back; a clear error naming ``source`` for anything that is not one."""
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            raise InputError("not a textmetric index manifest", source)
        version = record.get("format_version")
        if version != FORMAT_VERSION:
            raise InputError(f"index format version {version} is not supported by this textmetric "
                             f"(it reads version {FORMAT_VERSION})", source)
        required = {"dim": int, "space": str, "count": int, "hnsw": dict, "files": dict}
        for key, kind in required.items():
            if not isinstance(record.get(key), kind):
                raise InputError(f"missing or malformed '{key}'", source)
        hnsw = record["hnsw"]
        for key in ("M", "ef_construction", "ef", "elements", "next_label"):
            if not isinstance(hnsw.get(key), int):
                raise InputError(f"missing or malformed 'hnsw.{key}'", source)
        lexical = record.get("lexical")
        if lexical is not None:
            if not isinstance(lexical, dict) or not isinstance(lexical.get("files"), dict) or not all(
                    isinstance(name, str) and re.fullmatch(rf"{LEXICAL}/[\w.-]+", name) for name in lexical["files"]):
                raise InputError("missing or malformed 'lexical.files'", source)
        if record["space"] not in SPACES:
            raise InputError(f"unknown space '{record['space']}'", source)
        shard = record.get("shard")
        return cls(
            dim=record["dim"], space=record["space"], count=record["count"], m=hnsw["M"],
            ef_construction=hnsw["ef_construction"], ef=hnsw["ef"], elements=hnsw["elements"],
            next_label=hnsw["next_label"], seed=hnsw.get("seed", HNSW_SEED), model=record.get("model"),
            shard=None if shard is None else (int(shard["index"]), int(shard["count"])),
            lexical=None if lexical is None else LexicalSettings.from_dict(lexical.get("settings"), source),
            files=record["files"], lexical_files={} if lexical is None else lexical["files"])


def read_manifest(path: str | os.PathLike) -> Manifest:
    """The manifest of an index folder, validated; a clear error for anything that is not one."""
    path = Path(path)
    if not path.exists():
        raise InputError("no such index folder", path)
    if not path.is_dir():
        raise InputError("expected an index folder, got a file", path)
    manifest_path = path / MANIFEST
    if not manifest_path.exists():
        raise InputError(f"not a textmetric index (no {MANIFEST})", path)
    try:
        record = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"unreadable manifest: {e}", manifest_path) from None
    return Manifest.from_dict(record, manifest_path)


def index_exists(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a readable index manifest."""
    try:
        read_manifest(path)
    except InputError:
        return False
    return True


def open_folder(path: str | os.PathLike) -> Manifest:
    """The manifest of an index folder whose every file is present and matches its checksum.

    First puts back the previous index if a save died between the two renames of its swap.
    """
    path = Path(path)
    recover_interrupted_replace(path)
    manifest = read_manifest(path)
    for name, expected in {**manifest.files, **manifest.lexical_files}.items():
        if not (path / name).exists():
            raise InputError(f"missing {name}: the index is incomplete", path)
        if file_digest(path / name) != expected:
            raise InputError(f"{name} does not match its checksum in {MANIFEST}: the file is corrupt "
                             f"or was changed outside textmetric", path)
    return manifest


def check_replaceable(path: Path) -> None:
    """Refuse to save over a folder that holds something other than an index."""
    if path.exists() and not (path / MANIFEST).exists() and any(path.iterdir()):
        raise InputError("exists and is not a textmetric index: refusing to replace it", path)


def write_manifest(folder: Path, manifest: Manifest, lexical_files: Sequence[str] = ()) -> None:
    """Write ``manifest.json`` into a folder that holds the graph, the documents and ``lexical_files``
    (paths under ``folder``): the manifest with every file's size and checksum, and the time."""
    files = {name: file_digest(folder / name) for name in (GRAPH, DOCS)}
    lexical = {name: file_digest(folder / name) for name in lexical_files}
    record = replace(manifest, files=files, lexical_files=lexical).to_dict()
    record["saved_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    (folder / MANIFEST).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def file_digest(path: Path) -> dict:
    """A file's size and SHA-256, as the manifest records them."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}
