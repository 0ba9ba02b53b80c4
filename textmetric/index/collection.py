"""A collection: one corpus split into N shard indexes by :func:`~textmetric.index.shards.shard_of`, in one
folder, with the BM25 statistics of the whole corpus so that lexical search over the shards scores as one index.

::

    my-collection/
      collection.json        format version, model identity, N and the hash that split the corpus, each
                             shard's folder, generation and document count, the BM25 settings and totals
      bm25-statistics.json   the whole corpus's BM25 statistics (document frequencies), checksummed
      shard-0/ ... shard-N-1/  ordinary index folders, each recording its shard (i, N)

Every shard's BM25 side is scored with the collection's statistics (N, average length, document
frequencies: :class:`~textmetric.index.lexical.BM25Statistics`), so lexical and hybrid search over
the shards give the scores of one index of the corpus. ``Index.load`` and ``--index DIR`` open a
collection as a :class:`~textmetric.index.shards.ShardedIndex`.

Writes into a shard (``textmetric add`` / ``delete`` on ``DIR/shard-i``) are ordinary index writes:
dense search over the collection stays exact, but the statistics are those of the build and no
longer hold, so lexical and hybrid search over the collection are refused (naming the changed
shard) until it is rebuilt. A collection is written whole: its shards are built in the work folder
``.<name>.build/`` beside it (kept across an interrupted build, so a rerun reuses the encoded chunks
and the finished shards), then moved into a new folder with ``collection.json``, swapped into place.
The local build (:func:`build_collection`) and the Ray build (:mod:`textmetric.distributed`) share
the shard builder and the writer here.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..atomic import atomic_folder, atomic_write
from ..data import CorpusSource, Document, load_corpus
from ..encoding import Encoder, recorded_prompts
from ..errors import InputError, warn
from .building import DEFAULT_CHUNK, corpus_key, encode_chunks, open_work_folder, work_folder
from .folder import (COLLECTION, INDEX_ENTRIES, check_replaceable, file_digest, folder_generation, read_manifest,
                     write_lock)
from .index import Index
from .lexical import BM25Statistics, LexicalSettings, Tokenizer
from .locking import DEFAULT_LOCK_TIMEOUT
from .shards import SHARD_HASH, ShardedIndex, shard_of
from .vectors import DEFAULT_EF, DEFAULT_EF_CONSTRUCTION, DEFAULT_M, space_of

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["COLLECTION_FORMAT", "COLLECTION_VERSION", "STATISTICS", "CollectionRecord", "HnswSettings",
           "shard_name", "check_shard_count", "is_collection", "collection_entries", "collection_writes",
           "refuse_collection", "lexical_refusal", "read_collection", "read_statistics", "load_collection",
           "statistics_of", "build_shard", "finished_shard", "finish_collection", "build_state", "open_collection_work",
           "build_collection"]

COLLECTION_FORMAT = "textmetric-collection"
COLLECTION_VERSION = 1
STATISTICS = "bm25-statistics.json"
SHARDS, CHUNKS = "shards", "chunks"  # inside the build's work folder


def shard_name(i: int, count: int) -> str:
    """The folder of shard ``i`` of ``count`` in a collection: ``shard-i``, zero-padded so names sort."""
    return f"shard-{i:0{len(str(count - 1))}d}"


def check_shard_count(shards: int, documents: int | None = None) -> None:
    """Refuse a shard count below 1 or above the number of ``documents`` (when known): a shard would be empty."""
    if shards < 1:
        raise InputError(f"--shards must be at least 1, got {shards}")
    if documents is not None and shards > documents:
        raise InputError(f"--shards {shards} is more than the {documents} documents of the corpus: a shard would "
                         f"be empty")


def is_collection(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a collection folder (holds ``collection.json``)."""
    return (Path(path) / COLLECTION).is_file()


def collection_entries(path: str | os.PathLike) -> frozenset[str]:
    """The entries of the folder at ``path`` that are a collection's own (its record, statistics and shard
    folders), which an index saved over it replaces rather than carries across; none if it is no collection."""
    path = Path(path)
    if not is_collection(path):
        return frozenset()
    shards = {p.name for p in path.glob("shard-*") if re.fullmatch(r"shard-\d+", p.name) and p.is_dir()}
    return frozenset({COLLECTION, STATISTICS, *shards})


def collection_writes(path: str | os.PathLike, what: str) -> str:
    """Why ``what`` (a command, or a service's writes) cannot write to the collection at ``path``, in one line."""
    return (f"{path} is a collection: {what} one index, so give one of its shard folders (e.g. "
            f"{Path(path) / 'shard-0'}); lexical search over the collection then waits for a rebuild")


def refuse_collection(path: str | os.PathLike, command: str) -> None:
    """Refuse ``command`` (a write: add, delete, compact, index-lexical) on a whole collection folder."""
    if is_collection(path):
        raise InputError(collection_writes(path, f"`{command}` writes"))


@dataclass(frozen=True)
class HnswSettings:
    """The graph parameters every shard of a collection is built with."""

    space: str
    m: int = DEFAULT_M
    ef_construction: int = DEFAULT_EF_CONSTRUCTION
    ef: int = DEFAULT_EF


@dataclass(frozen=True)
class CollectionRecord:
    """What ``collection.json`` records."""

    model: dict | None
    count: int                                   # N, the number of shards
    parts: tuple[tuple[str, str, int], ...]      # per shard: folder name, generation, documents
    lexical: LexicalSettings | None
    totals: tuple[int, int] | None               # BM25 documents and terms of the whole corpus
    statistics_file: dict | None                 # {"bytes", "sha256"} of bm25-statistics.json


def _checksum(record: dict) -> str:
    canonical = json.dumps({k: v for k, v in record.items() if k != "checksum"}, sort_keys=True,
                           separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _write_record(folder: Path, names: Sequence[str], statistics: BM25Statistics | None,
                  settings: LexicalSettings | None) -> None:
    """Write ``collection.json`` (and the statistics file) into ``folder``, which holds the shard folders
    ``names`` (shard i in ``names[i]``), each already saved."""
    parts, model = [], None
    for i, name in enumerate(names):
        manifest = read_manifest(folder / name)
        if manifest.shard != (i, len(names)):
            raise ValueError(f"{name} holds shard {manifest.shard}, not {i}/{len(names)}")
        model = model or manifest.model
        parts.append({"folder": name, "generation": folder_generation(folder / name), "documents": manifest.count})
    record: dict = {"format": COLLECTION_FORMAT, "format_version": COLLECTION_VERSION, "model": model,
                    "shards": {"count": len(names), "hash": SHARD_HASH, "parts": parts}, "lexical": None}
    if settings is not None and statistics is not None:
        with atomic_write(folder / STATISTICS) as f:
            json.dump(statistics.to_dict(), f, ensure_ascii=False)
        record["lexical"] = {"settings": settings.to_dict(), "documents": statistics.documents,
                             "terms": statistics.terms,
                             "average_length": statistics.terms / max(statistics.documents, 1),
                             "statistics": {"file": STATISTICS, **file_digest(folder / STATISTICS)}}
    record["saved_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    record["checksum"] = {"sha256": _checksum(record)}
    with atomic_write(folder / COLLECTION) as f:
        f.write(json.dumps(record, indent=2, ensure_ascii=False) + "\n")


def read_collection(path: str | os.PathLike) -> CollectionRecord:
    """The record of a collection folder, checked; a one-line error naming the folder for anything else."""
    path = Path(path)
    try:
        record = json.loads((path / COLLECTION).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"not a collection (no {COLLECTION})", path) from None
    except (OSError, ValueError) as e:
        raise InputError(f"unreadable {COLLECTION}: {e}", path) from None
    if not isinstance(record, dict) or record.get("format") != COLLECTION_FORMAT:
        raise InputError(f"{COLLECTION} is not a textmetric collection record", path)
    if record.get("format_version") != COLLECTION_VERSION:
        raise InputError(f"collection format version {record.get('format_version')} is not supported by this "
                         f"textmetric (it reads version {COLLECTION_VERSION})", path)
    if not isinstance(record.get("checksum"), dict) or record["checksum"].get("sha256") != _checksum(record):
        raise InputError(f"{COLLECTION} does not match its own checksum: it was edited or is corrupt (rebuild "
                         f"the collection)", path)
    shards = record.get("shards")
    try:
        count, parts = shards["count"], shards["parts"]
        if shards["hash"] != SHARD_HASH:
            raise InputError(f"the collection was split by hash '{shards['hash']}', which this textmetric does "
                             f"not know ('{SHARD_HASH}')", path)
        parts = tuple((p["folder"], p["generation"], p["documents"]) for p in parts)
        if not (isinstance(count, int) and count == len(parts) >= 1 and all(
                isinstance(f, str) and "/" not in f and f not in ("", ".", "..") and isinstance(g, str)
                and isinstance(n, int) for f, g, n in parts)):
            raise ValueError
        lexical = record["lexical"]
        settings = totals = statistics_file = None
        if lexical is not None:
            settings = LexicalSettings.from_dict(lexical["settings"], path / COLLECTION)
            totals = (int(lexical["documents"]), int(lexical["terms"]))
            statistics_file = {"bytes": lexical["statistics"]["bytes"], "sha256": lexical["statistics"]["sha256"]}
    except (KeyError, TypeError, ValueError):
        raise InputError(f"malformed {COLLECTION} (shards, parts or lexical)", path) from None
    return CollectionRecord(record.get("model"), count, parts, settings, totals, statistics_file)


def read_statistics(path: str | os.PathLike, record: CollectionRecord) -> BM25Statistics:
    """The BM25 statistics a collection's shards are scored with, checked against ``collection.json``."""
    file = Path(path) / STATISTICS
    if record.statistics_file is None:
        raise InputError("the collection has no lexical side", path)
    try:
        if file_digest(file) != record.statistics_file:
            raise InputError(f"{STATISTICS} does not match its checksum in {COLLECTION}", path)
        statistics = BM25Statistics.from_dict(json.loads(file.read_text(encoding="utf-8")), file)
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read {STATISTICS}: {e}", path) from None
    return statistics


def load_collection(path: str | os.PathLike) -> ShardedIndex:
    """The shards of a collection folder searched as one; a one-line error naming the folder when a shard is
    missing, corrupt, of another shard or model, or when they do not add up to the recorded collection."""
    path = Path(path)
    record = read_collection(path)
    shards, names = [], []
    for i, (name, _, _) in enumerate(record.parts):
        folder = path / name
        if not folder.is_dir():
            raise InputError(f"shard {i}/{record.count} ({name}) is missing: the collection is incomplete", path)
        if is_collection(folder):  # Index.load would open it as a collection, not as one shard
            raise InputError(f"{name} holds a collection, not shard {i}/{record.count}", path)
        shard = Index.load(folder)  # checks its own files against their checksums
        if shard.shard != (i, record.count):
            found = "no shard" if shard.shard is None else f"shard {shard.shard[0]}/{shard.shard[1]}"
            raise InputError(f"{name} holds {found}, not shard {i}/{record.count}", path)
        recorded = (record.model or {}).get("weights_sha256")
        if (shard.model or {}).get("weights_sha256") != recorded or \
                recorded_prompts(shard.model) != recorded_prompts(record.model):
            raise InputError(f"{name} was built with another model (weights or prompts) than the collection", path)
        shards.append(shard)
        names.append(str(folder))
    refusal = lexical_refusal(path, record, [s.generation for s in shards], [s.lexical_settings for s in shards])
    return ShardedIndex(shards, names, lexical_refusal=refusal)


def lexical_refusal(path: str | os.PathLike, record: CollectionRecord, generations: Sequence[str | None],
                    settings: Sequence[LexicalSettings | None]) -> str | None:
    """Why lexical and hybrid search over the collection at ``path`` are refused while its shards are at
    ``generations`` with BM25 ``settings`` (one each, in shard order), or None where they score as one index."""
    changed = [name for (name, built, _), now in zip(record.parts, generations) if now != built]
    if record.lexical is None:
        return (f"the collection {path} has no lexical side: build it with `textmetric index --shards "
                f"{record.count} --lexical`")
    if changed:
        return (f"{changed[0]} of the collection {path} changed since it was built (documents added or deleted), "
                f"so the corpus's BM25 statistics no longer hold: rebuild the collection for lexical and hybrid "
                f"search (dense search is unaffected)")
    if any(s != record.lexical for s in settings):
        raise InputError("a shard's BM25 settings differ from the collection's", path)
    return None


def statistics_of(texts: Sequence[str], settings: LexicalSettings) -> BM25Statistics:
    """The BM25 statistics of ``texts`` tokenised under ``settings``."""
    tokenize = Tokenizer(settings)
    return BM25Statistics.of([tokenize(t) for t in texts])


def build_shard(folder: str | os.PathLike, shard: tuple[int, int], ids: Sequence[str], embeddings: np.ndarray,
                documents: Sequence[Document], model: dict, hnsw: HnswSettings,
                lexical: LexicalSettings | None = None, statistics: BM25Statistics | None = None) -> int:
    """Build shard ``shard`` = (i, N) of a collection from its documents and their vectors and save it at
    ``folder``; its BM25 side (when ``lexical``) scored with the collection's ``statistics``. Returns its size."""
    index = Index(model["dim"], hnsw.space, model=model, m=hnsw.m, ef_construction=hnsw.ef_construction,
                  ef=hnsw.ef, capacity=max(len(ids), 1))
    index.shard = shard
    index.add(list(ids), embeddings, list(documents))
    if lexical is not None:
        index.enable_lexical(lexical, statistics=statistics)
    index.save(folder)
    return len(index)


def finished_shard(folder: Path, shard: tuple[int, int], documents: int, model: dict) -> bool:
    """Whether ``folder`` holds shard ``shard`` as a finished build of this collection saved it."""
    try:
        manifest = read_manifest(folder)
    except InputError:
        return False
    return (manifest.shard == shard and manifest.count == documents
            and (manifest.model or {}).get("weights_sha256") == model.get("weights_sha256"))


def build_state(model: dict, corpus_sha256: str, shards: int, hnsw: HnswSettings,
                lexical: LexicalSettings | None) -> dict:
    """What a collection build's work is valid for: another state starts it afresh."""
    return {"model_sha256": model.get("weights_sha256"), "backend": model.get("backend"),
            "prompts": model.get("prompts"), "max_seq_length": model.get("max_seq_length"),
            "corpus_sha256": corpus_sha256, "shards": shards, "hash": SHARD_HASH, "hnsw": vars(hnsw),
            "lexical": None if lexical is None else lexical.to_dict()}


def open_collection_work(workdir: Path, state: dict) -> Path:
    """A collection build's work folder (see :func:`~textmetric.index.building.open_work_folder`), with its
    folder of finished shards."""
    open_work_folder(workdir, state)
    (workdir / SHARDS).mkdir(exist_ok=True)
    return workdir


def finish_collection(target: Path, workdir: Path, count: int, statistics: BM25Statistics | None,
                      lexical: LexicalSettings | None) -> None:
    """Move the ``count`` finished shards out of ``workdir`` into a new collection folder with its record, swap
    it in at ``target`` (the user's own files of the folder it replaces carried across), and remove the work
    folder."""
    names = [shard_name(i, count) for i in range(count)]
    replaced = {*INDEX_ENTRIES, *collection_entries(target)}  # the rest of the old folder is the user's
    with atomic_folder(target, carry=lambda name: name not in replaced) as tmp:
        for name in names:
            os.replace(workdir / SHARDS / name, tmp / name)
        _write_record(tmp, names, statistics, lexical)
    shutil.rmtree(workdir, ignore_errors=True)


def build_collection(model: "Encoder | SentenceTransformer", corpus: CorpusSource, output: str | os.PathLike, *,
                     shards: int, model_name: str | os.PathLike | None = None, space: str | None = None,
                     m: int = DEFAULT_M, ef_construction: int = DEFAULT_EF_CONSTRUCTION, ef: int = DEFAULT_EF,
                     batch_size: int = 32, chunk_size: int = DEFAULT_CHUNK, lexical: LexicalSettings | None = None,
                     progress: bool = False, lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT) -> ShardedIndex:
    """Encode ``corpus`` once (resumable chunks), split it into ``shards`` by document id and write the collection
    at ``output`` (with the corpus's BM25 statistics when ``lexical``). A rerun after an interruption reuses
    the encoded chunks and the finished shards. Returns the collection as :func:`load_collection` opens it."""
    corpus = load_corpus(corpus)
    if not corpus:
        raise InputError("the corpus is empty: nothing to index")
    check_shard_count(shards, len(corpus))
    model = Encoder.of(model)
    identity = model.identity(model_name)
    hnsw = HnswSettings(space or space_of(model.model), m, ef_construction, ef)
    ids = list(corpus)
    texts = [corpus[i].full_text for i in ids]
    with write_lock(output, lock_timeout) as target:
        check_replaceable(target)  # before the encoding, not once it is done
        workdir = open_collection_work(work_folder(target),
                                       build_state(identity, corpus_key(texts, ids), shards, hnsw, lexical))
        embeddings = encode_chunks(model, ids, texts, workdir / CHUNKS, model_sha=identity["weights_sha256"],
                                   batch_size=batch_size, chunk_size=chunk_size, progress=progress)
        statistics = None if lexical is None else statistics_of(texts, lexical)
        rows: list[list[int]] = [[] for _ in range(shards)]
        for row, doc_id in enumerate(ids):
            rows[shard_of(doc_id, shards)].append(row)
        reused = 0
        for i, part in enumerate(rows):
            folder = workdir / SHARDS / shard_name(i, shards)
            if finished_shard(folder, (i, shards), len(part), identity):
                reused += 1
                continue
            build_shard(folder, (i, shards), [ids[r] for r in part], embeddings[part],
                        [corpus[ids[r]] for r in part], identity, hnsw, lexical, statistics)
        if reused:
            warn(f"resumed an interrupted build: {reused} of {shards} shards were already built")
        finish_collection(target, workdir, shards, statistics, lexical)
    return load_collection(output)


