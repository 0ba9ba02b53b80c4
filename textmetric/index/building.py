"""Turning a corpus into an index with a model: resumable chunked encoding, and the model check.

Encoding is where an index build spends its time, so it goes in chunks and each
finished chunk is kept (``.npy``, no pickle) in a working folder beside the
output, ``.<name>.build/``. A build that is interrupted (Ctrl-C, kill -9, power
loss) and started again with the same model and corpus resumes from the chunks
it has, automatically; a different model or corpus starts afresh. The working
folder is removed once the index is saved.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from .. import atomic
from ..data import CorpusSource, load_corpus
from ..encoding import Encoder, describe_prompts, encode, recorded_prompts
from ..errors import InputError, on_command_line, option, warn
from .folder import check_replaceable, write_lock
from .index import ExactIndex, Index
from .lexical import LexicalSettings
from .locking import DEFAULT_LOCK_TIMEOUT
from .vectors import DEFAULT_EF, DEFAULT_EF_CONSTRUCTION, DEFAULT_M, space_of

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["build_index", "add_documents", "load_index_model", "check_model", "work_folder", "encode_chunks",
           "corpus_key", "open_work_folder", "hnsw_recall"]

DEFAULT_CHUNK = 512


def work_folder(output: str | os.PathLike) -> Path:
    """Where a build of ``output`` keeps its finished chunks: ``.<name>.build`` beside it."""
    return atomic.work_folder(output, "build")


def corpus_key(texts: Sequence[str], ids: Sequence[str]) -> str:
    """A hash of the ids and texts, in order: what a build's kept work is valid for."""
    digest = hashlib.sha256()
    for doc_id, text in zip(ids, texts):
        digest.update(doc_id.encode("utf-8") + b"\0" + text.encode("utf-8") + b"\0")
    return digest.hexdigest()


def open_work_folder(workdir: Path, state: dict) -> Path:
    """A build's work folder, kept if a build of the same ``state`` (model, corpus, settings) left it, else
    emptied first: work done for another model or corpus is never reused."""
    state_path = workdir / "state.json"
    if workdir.exists():
        try:
            previous = json.loads(state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = None
        if previous != state:
            shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    state_path.write_text(json.dumps(state), encoding="utf-8")
    return workdir


def encode_chunks(model: "Encoder | SentenceTransformer", ids: Sequence[str], texts: Sequence[str], workdir: Path, *,
                  model_sha: str, batch_size: int = 32, chunk_size: int = DEFAULT_CHUNK,
                  progress: bool = False) -> np.ndarray:
    """Encode ``texts`` chunk by chunk, keeping each finished chunk in ``workdir`` and reusing those already there."""
    from tqdm.auto import tqdm

    model = Encoder.of(model)
    state = {"model_sha256": model_sha, "corpus_sha256": corpus_key(texts, ids), "chunk_size": chunk_size,
             "count": len(texts), "backend": model.backend, "max_seq_length": model.max_seq_length,
             "prompt": model.prompts["document"]}
    lengths = model.token_lengths(texts, role="document")
    model.warn_truncated(texts, lengths)  # once for the corpus, not once per chunk
    open_work_folder(workdir, state)

    starts = range(0, len(texts), chunk_size)
    chunks: list[np.ndarray] = []
    done = 0
    with tqdm(total=len(texts), unit="doc", desc="encoding", disable=not progress) as bar:
        for number, start in enumerate(starts):
            path = workdir / f"chunk-{number:06d}.npy"
            size = min(chunk_size, len(texts) - start)
            chunk = _read_chunk(path, size)
            if chunk is None:
                chunk = encode(model, texts[start:start + size], role="document", batch_size=batch_size,
                               lengths=None if lengths is None else lengths[start:start + size])
                tmp = path.with_suffix(".tmp.npy")
                np.save(tmp, chunk, allow_pickle=False)
                os.replace(tmp, path)
            else:
                done += size
            chunks.append(chunk)
            bar.update(size)
    if done:
        warn(f"resumed an interrupted build: {done} of {len(texts)} documents were already encoded")
    return np.concatenate(chunks) if chunks else np.zeros((0, model.dim), np.float32)


def _read_chunk(path: Path, size: int) -> np.ndarray | None:
    if not path.exists():
        return None
    try:
        chunk = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None  # a chunk cut short by a crash is simply encoded again
    return chunk if chunk.ndim == 2 and len(chunk) == size and chunk.dtype == np.float32 else None


def build_index(model: "Encoder | SentenceTransformer", corpus: CorpusSource, output: str | os.PathLike, *,
                model_name: str | os.PathLike | None = None, space: str | None = None, m: int = DEFAULT_M,
                ef_construction: int = DEFAULT_EF_CONSTRUCTION, ef: int = DEFAULT_EF, batch_size: int = 32,
                chunk_size: int = DEFAULT_CHUNK, lexical: LexicalSettings | None = None,
                shard: tuple[int, int] | None = None, progress: bool = False,
                lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT) -> Index:
    """Encode ``corpus`` (resumably), build the HNSW graph (and the BM25 side if ``lexical`` settings
    are given) and save it atomically at ``output``.

    ``shard`` = (i, N) indexes only the documents of shard i of N (see :mod:`textmetric.index.shards`).
    ``corpus`` may be any form :func:`~textmetric.data.load_corpus` reads. The build holds ``output``'s
    writer lock throughout (see :func:`~textmetric.index.folder.write_lock`): a second build of the same
    output waits, and never shares the first one's working folder.
    """
    corpus = load_corpus(corpus)
    if not corpus:
        raise InputError("the corpus is empty: nothing to index")
    if shard is not None:
        from .shards import select_shard

        corpus = select_shard(corpus, shard)
        if not corpus:
            raise InputError(f"shard {shard[0]}/{shard[1]} of the corpus is empty: nothing to index")
    model = Encoder.of(model)
    identity = model.identity(model_name)
    ids = list(corpus)
    texts = [corpus[i].full_text for i in ids]
    with write_lock(output, lock_timeout) as target:
        check_replaceable(target)  # before the encoding, not once it is done
        workdir = work_folder(target)
        embeddings = encode_chunks(model, ids, texts, workdir, model_sha=identity["weights_sha256"],
                                   batch_size=batch_size, chunk_size=chunk_size, progress=progress)
        index = Index(identity["dim"], space or space_of(model.model), model=identity, m=m,
                      ef_construction=ef_construction, ef=ef, capacity=len(ids))
        index.shard = shard
        index.add(ids, embeddings, [corpus[i] for i in ids])
        if lexical is not None:
            index.enable_lexical(lexical)
        index.save(output)
        shutil.rmtree(workdir, ignore_errors=True)
    return index


def add_documents(index: Index, model: "Encoder | SentenceTransformer", corpus: CorpusSource, *,
                  batch_size: int = 32, progress: bool = False) -> tuple[int, int]:
    """Encode and add ``corpus`` (any form ``load_corpus`` reads) to ``index``: new ids are added, existing ones
    replaced. Returns (added, replaced)."""
    model = Encoder.of(model)
    check_model(index, model)
    corpus = load_corpus(corpus)
    ids = list(corpus)
    if index.shard is not None:
        from .shards import shard_of

        i, n = index.shard
        stray = [d for d in ids if shard_of(d, n) != i]
        if stray:
            raise InputError(f"{len(stray)} document(s) belong to other shards than this index's {i}/{n} "
                             f"(first: '{stray[0]}', shard {shard_of(stray[0], n)}/{n}): add them there")
    replaced = sum(1 for i in ids if i in index)
    embeddings = model.encode_documents([corpus[i].full_text for i in ids], batch_size=batch_size, progress=progress)
    index.add(ids, embeddings, [corpus[i] for i in ids])
    return len(ids) - replaced, replaced


def check_model(index: Index, model: "Encoder | SentenceTransformer") -> None:
    """Refuse a model whose dimension, weights or prompts differ from the index's: its vectors would be garbage
    there. An index that records a model but not its weights' fingerprint matches no model. (One that records
    no model at all, built from vectors by the Python API, is checked by dimension only.)"""
    model = Encoder.of(model)
    dim = model.dim
    if dim != index.dim:
        raise InputError(f"the model embeds in {dim} dimensions but the index holds {index.dim}-dimensional "
                         f"vectors: search it with the model it was built with")
    expected = (index.model or {}).get("weights_sha256")
    if index.model is not None and expected is None:
        raise InputError(f"the index records its model ({index.model.get('name')}) without the fingerprint of its "
                         f"weights, so no model can be checked against it: rebuild the index")
    if expected is not None:
        actual = model.fingerprint()
        if actual != expected:
            raise InputError(f"the model's weights (sha256 {actual[:12]}) differ from those the index was built "
                             f"with ({(index.model or {}).get('name')}, sha256 {expected[:12]}): "
                             f"search it with that model, or rebuild the index")
    if index.model and recorded_prompts(index.model) != model.prompts:
        raise InputError(f"the index was built with {describe_prompts(recorded_prompts(index.model))} but the model "
                         f"is set to {describe_prompts(model.prompts)}: search it with the index's prompts "
                         f"(the default), or rebuild the index")
    built_with, using = (index.model or {}).get("backend", "torch"), model.backend
    if built_with != using:
        warn(f"the index was built with the {built_with} backend and is searched with {using}: the same model "
             f"weights, so this is allowed, but the two give slightly different vectors")


def load_index_model(index: Index, name_or_path: str | os.PathLike | None = None, *, backend: str | None = None,
                     workers: int = 1, max_seq_length: int | None = None,
                     prompts: Mapping[str, str | None] | None = None,
                     prompt_names: Mapping[str, str | None] | None = None) -> Encoder:
    """The encoder to search ``index`` with: the model named in its manifest unless another is given, checked.

    ``backend``, ``max_seq_length`` and the query and document prompts default to those the
    index was built with (an index that records no prompts was built without any);
    ``prompts`` / ``prompt_names`` set a role's prompt otherwise (see :class:`Encoder`).
    """
    recorded = index.model or {}
    if name_or_path is None and recorded.get("name") is None:
        raise InputError(f"the index does not record its model: pass {option('name_or_path', '--model')}")
    if name_or_path is None and os.path.isabs(recorded["name"]) and not Path(recorded["name"]).exists():
        raise InputError(_moved_model(recorded))
    given = {role: text for role, text in (prompts or {}).items() if text is not None}
    named = {role: name for role, name in (prompt_names or {}).items() if name is not None}
    built = {role: text for role, text in recorded_prompts(recorded).items()
             if role not in given and role not in named} if recorded else {}
    model = Encoder.load(name_or_path if name_or_path is not None else recorded["name"],
                         backend=backend or recorded.get("backend", "torch"), workers=workers,
                         prompts={**built, **given}, prompt_names=named)
    length = max_seq_length or recorded.get("max_seq_length")
    if length:
        model.max_seq_length = int(length)
    check_model(index, model)
    return model


def _moved_model(recorded: dict) -> str:
    """Why the recorded model folder cannot be loaded, and how to point at it where it is now."""
    given = recorded.get("given_name")
    named = f" (given as '{given}')" if given and given != recorded["name"] else ""
    how = "--model NEW_PATH" if on_command_line() else "name_or_path=NEW_PATH"
    sha = recorded.get("weights_sha256")
    check = f", with the same weights (sha256 {sha[:12]})" if sha else ""
    return (f"the index's model folder {recorded['name']}{named} is gone: if it moved, pass {how}, the folder "
            f"where it is now{check}")


def hnsw_recall(index: Index, query_embeddings: np.ndarray, k: int = 10) -> float:
    """Mean recall@k of the HNSW search against exact search over the index's own stored vectors."""
    ids = index.ids
    cut = min(k, len(ids))
    if cut < 1 or len(query_embeddings) == 0:
        return 0.0
    truth = ExactIndex(ids, index.embeddings(ids), index.space).search(query_embeddings, cut)
    approx = index.search(query_embeddings, cut)
    found = [len({d for d, _ in a} & {d for d, _ in t}) / len(t) for a, t in zip(approx, truth)]
    return sum(found) / len(found)

