"""Building a collection on Ray: Ray Data reads and encodes the corpus, one Ray task per shard builds it.

- Reading: one task per record file (a corpus file, or each file of a folder of many), through
  textmetric's own loader (:func:`~textmetric.data.load_corpus`): the same record rules and one-line
  errors as a local build. Ids repeated across files are refused, naming both, before anything is encoded.
- Encoding: ``map_batches`` with :class:`EncodeBlocks`, a callable class run by K actors, each loading
  the encoder once. A block's vectors are kept in the work folder under a hash of its ids and texts, so
  a rerun encodes only the blocks it lacks; its rows go to one file per shard (``parts/shard-i/<hash>.npz``,
  no pickle), so no vector passes through the driver. Ray Data restarts a killed actor and retries its
  block (``max_restarts`` and ``max_task_retries`` -1); a retried block writes the same files again, so
  every document lands exactly once.
- Building: one Ray task per shard (retried) reads its part files, puts them back in corpus order and
  calls the local build's :func:`~textmetric.index.collection.build_shard`; the BM25 statistics are
  summed from one task per shard first. The collection is written by the same
  :func:`~textmetric.index.collection.finish_collection` as a local build, from the same work folder,
  so an interrupted build reruns from the shards and encoded blocks it has.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..data import Document, load_corpus
from ..data.files import SUFFIXES
from ..data.hf_datasets import is_saved_dataset
from ..encoding import BACKENDS, Encoder
from ..errors import InputError, warn
from ..index.collection import (SHARDS, HnswSettings, build_shard, build_state, check_shard_count,
                                finish_collection, finished_shard, load_collection, open_collection_work, shard_name,
                                statistics_of)
from ..index.building import DEFAULT_CHUNK, work_folder
from ..index import ExactIndex
from ..index.folder import check_replaceable, index_target, write_lock
from ..index.lexical import BM25Statistics, LexicalSettings
from ..index.locking import DEFAULT_LOCK_TIMEOUT
from ..index.shards import ShardedIndex, shard_of
from ..index.vectors import DEFAULT_EF, DEFAULT_EF_CONSTRUCTION, DEFAULT_M, space_of
from .cluster import check_address, ray_session, unwrap_input_error

__all__ = ["build_index_on_ray", "encode_corpus_on_ray", "exact_index_on_ray", "corpus_files", "EncodeBlocks",
           "DEFAULT_BLOCK",
           "DEFAULT_ENCODERS", "SHARD_RETRIES"]

DEFAULT_BLOCK = DEFAULT_CHUNK  # documents per encoded block: the unit of resumption and of an actor's work
DEFAULT_ENCODERS = 1      # encoder actors
SHARD_RETRIES = 3         # times a shard's build task is retried when its worker dies
PARTS, BLOCKS = "parts", "blocks"


def corpus_files(path: str | os.PathLike) -> list[Path]:
    """The record files a corpus path stands for: a file; a BEIR folder's ``corpus.jsonl``; a ``datasets``
    save_to_disk folder (read whole); or every record file of a folder of many, in name order."""
    path = Path(path)
    if not path.exists():
        raise InputError("no such file or folder", path)
    if not path.is_dir() or is_saved_dataset(path):
        return [path]
    if (path / "corpus.jsonl").is_file():
        return [path / "corpus.jsonl"]
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
    if not files:
        raise InputError(f"a folder without record files ({', '.join(sorted(SUFFIXES))}) or corpus.jsonl", path)
    return files


def _file_rows(item: dict) -> list[dict]:
    """The documents of one record file, read by the local loader, as rows that keep their place in the corpus."""
    corpus = load_corpus(item["file"])
    return [{"id": doc_id, "title": doc.title, "text": doc.text, "fields": json.dumps(doc.fields, ensure_ascii=False),
             "file": item["number"], "row": row} for row, (doc_id, doc) in enumerate(corpus.items())]


def _full_texts(batch: Mapping[str, np.ndarray]) -> list[str]:
    return [Document(str(text), str(title)).full_text for text, title in zip(batch["text"], batch["title"])]


def _block_key(ids: Sequence[str], texts: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for doc_id, text in zip(ids, texts):
        digest.update(doc_id.encode("utf-8") + b"\0" + text.encode("utf-8") + b"\0")
    return digest.hexdigest()[:32]


def _save_atomically(path: Path, save) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save(tmp)
    os.replace(tmp, path)


class EncodeBlocks:
    """Ray Data's callable class: one :class:`Encoder` per actor; each batch's document vectors, from the
    block cache in ``workdir`` or encoded and kept there. ``shards``: write the batch's rows and vectors to
    their shards' part files and return only counts; None: return the vectors."""

    def __init__(self, recipe: dict, workdir: str, shards: int | None, batch_size: int) -> None:
        self.encoder = Encoder.load(recipe["name_or_path"], backend=recipe["backend"],
                                    max_seq_length=recipe["max_seq_length"], prompts=recipe["prompts"])
        self.workdir, self.shards, self.batch_size = Path(workdir), shards, batch_size

    def vectors(self, ids: list[str], texts: list[str]) -> tuple[str, np.ndarray]:
        """The batch's key and vectors, read from the block cache or encoded into it."""
        key = _block_key(ids, texts)
        path = self.workdir / BLOCKS / f"{key}.npy"
        if path.exists():
            try:
                cached = np.load(path, allow_pickle=False)
                if cached.shape == (len(ids), self.encoder.dim) and cached.dtype == np.float32:
                    return key, cached
            except (OSError, ValueError):
                pass  # cut short by a crash: encoded again
        vectors = self.encoder.encode_documents(texts, batch_size=self.batch_size)
        path.parent.mkdir(parents=True, exist_ok=True)
        _save_atomically(path, lambda tmp: _save_npy(tmp, vectors))
        return key, vectors

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ids = [str(i) for i in batch["id"]]
        key, vectors = self.vectors(ids, _full_texts(batch))
        if self.shards is None:
            return {"id": np.asarray(ids), "file": batch["file"], "row": batch["row"], "embedding": vectors}
        by_shard: dict[int, list[int]] = {}
        for row, doc_id in enumerate(ids):
            by_shard.setdefault(shard_of(doc_id, self.shards), []).append(row)
        for shard, rows in by_shard.items():
            folder = self.workdir / PARTS / shard_name(shard, self.shards)
            folder.mkdir(parents=True, exist_ok=True)
            arrays = {name: np.asarray([str(batch[name][r]) for r in rows])
                      for name in ("id", "title", "text", "fields")}
            arrays["order"] = np.stack([batch["file"][rows], batch["row"][rows]], axis=1).astype(np.int64)
            arrays["embedding"] = vectors[rows]
            _save_atomically(folder / f"{key}.npz", lambda tmp: _savez(tmp, arrays))
        return {"rows": np.asarray([len(ids)], dtype=np.int64)}


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.save(f, array, allow_pickle=False)


def _savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _read_part(folder: Path) -> dict[str, np.ndarray]:
    """A shard's rows from its part files, in corpus order (file, then record)."""
    loaded = []
    for path in sorted(folder.glob("*.npz")) if folder.is_dir() else []:
        with np.load(path, allow_pickle=False) as data:
            loaded.append({name: data[name] for name in data.files})
    if not loaded:
        return {"id": np.asarray([], dtype=str), "order": np.zeros((0, 2), np.int64)}
    joined = {name: np.concatenate([part[name] for part in loaded]) for name in loaded[0]}
    order = np.lexsort((joined["order"][:, 1], joined["order"][:, 0]))
    return {name: values[order] for name, values in joined.items()}


def _shard_statistics(part: str, settings: LexicalSettings) -> BM25Statistics:
    rows = _read_part(Path(part))
    texts = [Document(str(t), str(h)).full_text for t, h in zip(rows.get("text", []), rows.get("title", []))]
    return statistics_of(texts, settings)


def _build_shard(part: str, folder: str, shard: tuple[int, int], model: dict, hnsw: HnswSettings,
                 lexical: LexicalSettings | None, statistics: BM25Statistics | None) -> int:
    rows = _read_part(Path(part))
    ids = [str(i) for i in rows["id"]]
    documents = [Document(str(t), str(h), json.loads(str(f)))
                 for t, h, f in zip(rows.get("text", []), rows.get("title", []), rows.get("fields", []))]
    embeddings = rows.get("embedding", np.zeros((0, model["dim"]), np.float32))
    return build_shard(folder, shard, ids, embeddings, documents, model, hnsw, lexical, statistics)


def _shard_done(number: int) -> None:
    """Called on the driver as each shard's build finishes (a point to interrupt a build at, in tests)."""


def _files_key(files: Sequence[Path]) -> str:
    """A hash of the corpus files' names and contents: what the kept work of a build is valid for."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.resolve()).encode("utf-8") + b"\0")
        for item in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if item.is_file():
                with open(item, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        digest.update(block)
    return digest.hexdigest()


def _read_corpus(files: Sequence[Path], block_size: int):
    """The corpus rows as a materialised Ray dataset; ids repeated across files refused, naming both."""
    import ray

    items = [{"file": str(f.resolve()), "number": n} for n, f in enumerate(files)]  # actors run elsewhere
    rows = ray.data.from_items(items, override_num_blocks=len(items)).flat_map(_file_rows).materialize()
    first: dict[str, tuple[int, int]] = {}
    for batch in rows.select_columns(["id", "file", "row"]).iter_batches(batch_format="numpy", batch_size=65536):
        for doc_id, number, row in zip(batch["id"].tolist(), batch["file"].tolist(), batch["row"].tolist()):
            if doc_id in first:
                where = first[doc_id]
                raise InputError(f"duplicate document id '{doc_id}' (first in {files[where[0]]}, document "
                                 f"{where[1] + 1})", files[number])
            first[doc_id] = (number, row)
    blocks = max(1, -(-len(first) // block_size))  # even blocks of at most block_size: work for every actor
    return rows.repartition(blocks).materialize(), list(first)


def _encoder_recipe(encoder: Encoder, name_or_path: str | os.PathLike | None) -> dict:
    """How an actor loads the very encoder the driver checked: the model (a folder by its absolute path, as
    actors run elsewhere), backend, max length and prompts."""
    if name_or_path is not None and Path(name_or_path).is_dir():
        name_or_path = Path(name_or_path).resolve()
    return {"name_or_path": None if name_or_path is None else str(name_or_path), "backend": encoder.backend,
            "max_seq_length": encoder.max_seq_length, "prompts": dict(encoder.prompts)}


def _encode(rows, recipe: dict, workdir: Path, shards: int | None, encoders: int, batch_size: int,
            block_size: int):
    import ray.data

    return rows.map_batches(EncodeBlocks, fn_constructor_kwargs={"recipe": recipe, "workdir": str(workdir),
                                                                 "shards": shards, "batch_size": batch_size},
                            compute=ray.data.ActorPoolStrategy(size=encoders), batch_size=block_size,
                            batch_format="numpy", num_cpus=1)


def _check_encoders(encoders: int, block_size: int) -> None:
    if encoders < 1:
        raise InputError(f"--encoders must be at least 1, got {encoders}")
    if block_size < 1:
        raise InputError(f"the block size must be at least 1, got {block_size}")


def build_index_on_ray(corpus_path: str | os.PathLike, output: str | os.PathLike, *, shards: int,
                       model: str | os.PathLike | None = None, address: str | None = None,
                       encoders: int = DEFAULT_ENCODERS, backend: str = BACKENDS[0],
                       max_seq_length: int | None = None, prompts: Mapping[str, str | None] | None = None,
                       prompt_names: Mapping[str, str | None] | None = None, batch_size: int = 32,
                       block_size: int = DEFAULT_BLOCK, space: str | None = None, m: int = DEFAULT_M,
                       ef_construction: int = DEFAULT_EF_CONSTRUCTION, ef: int = DEFAULT_EF,
                       lexical: LexicalSettings | None = None,
                       lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT) -> ShardedIndex:
    """Build the collection of :func:`~textmetric.index.collection.build_collection` on Ray: the corpus at
    ``corpus_path`` (a file or a folder of many) read by Ray Data, encoded by ``encoders`` actors with
    ``model`` on ``backend``, split into ``shards``, each built by its own task; written at ``output``.

    ``address``: the cluster to run on (``host:port``, ``ray://host:port``, ``auto``); None starts a local one
    for the build and stops it after (or uses the Ray this process already runs). A rerun after an
    interruption reuses the encoded blocks and the finished shards."""
    _check_encoders(encoders, block_size)
    check_shard_count(shards)
    check_address(address)  # before the model loads: an unreachable cluster fails at once
    files = corpus_files(corpus_path)
    output = Path(output)
    check_replaceable(index_target(output))  # before the cluster and the model
    encoder = Encoder.load(model, backend=backend, max_seq_length=max_seq_length, prompts=prompts,
                           prompt_names=prompt_names)
    identity = encoder.identity(model)
    hnsw = HnswSettings(space or space_of(encoder.model), m, ef_construction, ef)
    with ray_session(address):
        try:
            return _build_on_ray(files, output, shards, encoder, identity, _encoder_recipe(encoder, model), hnsw,
                                 encoders, batch_size, block_size, lexical, lock_timeout)
        except Exception as e:
            found = unwrap_input_error(e)
            if found is None or found is e:
                raise
            raise found from None


def _build_on_ray(files: Sequence[Path], output: Path, shards: int, encoder: Encoder, identity: dict, recipe: dict,
                  hnsw: HnswSettings, encoders: int, batch_size: int, block_size: int,
                  lexical: LexicalSettings | None, lock_timeout: float | None) -> ShardedIndex:
    import ray

    with write_lock(output, lock_timeout) as target:
        check_replaceable(target)
        rows, ids = _read_corpus(files, block_size)
        if not ids:
            raise InputError("the corpus is empty: nothing to index")
        check_shard_count(shards, len(ids))
        state = {**build_state(identity, _files_key(files), shards, hnsw, lexical), "ray_block": block_size}
        workdir = open_collection_work(work_folder(target), state)
        shutil.rmtree(workdir / PARTS, ignore_errors=True)  # rewritten from the kept blocks: never stale
        written = _encode(rows, recipe, workdir, shards, encoders, batch_size, block_size).sum("rows")
        if written != len(ids):
            raise RuntimeError(f"encoded {written} documents of {len(ids)}")
        sizes = [0] * shards
        for doc_id in ids:
            sizes[shard_of(doc_id, shards)] += 1
        names = [shard_name(i, shards) for i in range(shards)]
        statistics = None
        if lexical is not None:
            task = ray.remote(num_cpus=1, max_retries=SHARD_RETRIES)(_shard_statistics)
            statistics = BM25Statistics.merged(ray.get([task.remote(str(workdir / PARTS / n), lexical)
                                                        for n in names]))
        pending = [i for i in range(shards)
                   if not finished_shard(workdir / SHARDS / names[i], (i, shards), sizes[i], identity)]
        if len(pending) < shards:
            warn(f"resumed an interrupted build: {shards - len(pending)} of {shards} shards were already built")
        task = ray.remote(num_cpus=1, max_retries=SHARD_RETRIES)(_build_shard)
        refs = {task.remote(str(workdir / PARTS / names[i]), str(workdir / SHARDS / names[i]), (i, shards),
                            identity, hnsw, lexical, statistics): i for i in pending}
        _wait_for_shards(refs)
        finish_collection(target, workdir, shards, statistics, lexical)
    return load_collection(output)


def _wait_for_shards(refs: dict) -> None:
    """Wait for every shard's task; should one fail (or the wait be interrupted), cancel the others and wait
    for them to stop, so that none writes into the work folder after the build has given up."""
    import ray

    waiting = list(refs)
    try:
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1)
            ray.get(done[0])
            _shard_done(refs[done[0]])
    except BaseException:
        for ref in waiting:
            ray.cancel(ref, force=True)
        if waiting:
            ray.wait(waiting, num_returns=len(waiting), timeout=60)
        raise


def encode_corpus_on_ray(corpus_path: str | os.PathLike, encoder: Encoder, *,
                         model: str | os.PathLike | None = None, address: str | None = None,
                         encoders: int = DEFAULT_ENCODERS, batch_size: int = 32,
                         block_size: int = DEFAULT_BLOCK) -> tuple[dict[str, Document], np.ndarray]:
    """The corpus at ``corpus_path`` and its document vectors (rows in corpus order), read and encoded by the
    Ray Data path of :func:`build_index_on_ray` with ``encoder`` (loaded by ``model`` on each actor)."""
    import tempfile

    _check_encoders(encoders, block_size)
    check_address(address)
    files = corpus_files(corpus_path)
    with ray_session(address), tempfile.TemporaryDirectory(prefix="textmetric-ray-") as workdir:
        try:
            rows, _ = _read_corpus(files, block_size)
            encoded = _encode(rows, _encoder_recipe(encoder, model), Path(workdir), None, encoders, batch_size,
                              block_size)
            by_place: dict[tuple[int, int], tuple[str, np.ndarray]] = {}
            for batch in encoded.iter_batches(batch_format="numpy", batch_size=block_size):
                for doc_id, number, row, vector in zip(batch["id"], batch["file"], batch["row"], batch["embedding"]):
                    by_place[(int(number), int(row))] = (str(doc_id), vector)
            documents: dict[tuple[int, int], Document] = {}
            for batch in rows.iter_batches(batch_format="numpy", batch_size=65536):
                for place in zip(batch["file"].tolist(), batch["row"].tolist(), batch["id"], batch["title"],
                                 batch["text"], batch["fields"]):
                    documents[(int(place[0]), int(place[1]))] = Document(str(place[4]), str(place[3]),
                                                                          json.loads(str(place[5])))
        except Exception as e:
            found = unwrap_input_error(e)
            if found is None or found is e:
                raise
            raise found from None
    order = sorted(by_place)
    corpus = {by_place[p][0]: documents[p] for p in order}
    vectors = np.stack([by_place[p][1] for p in order]) if order else np.zeros((0, encoder.dim), np.float32)
    return corpus, vectors.astype(np.float32)



def exact_index_on_ray(encoder: Encoder, corpus_path: str | os.PathLike, *, model: str | os.PathLike | None = None,
                       address: str | None = None, encoders: int = DEFAULT_ENCODERS, batch_size: int = 32,
                       block_size: int = DEFAULT_BLOCK) -> ExactIndex:
    """:meth:`ExactIndex.build <textmetric.index.ExactIndex.build>` with the corpus encoded on Ray
    (:func:`encode_corpus_on_ray`): what ``evaluate --ray`` and ``mine --ray`` search."""
    corpus, vectors = encode_corpus_on_ray(corpus_path, encoder, model=model, address=address, encoders=encoders,
                                           batch_size=batch_size, block_size=block_size)
    return ExactIndex(list(corpus), vectors, space_of(encoder.model), list(corpus.values()))
