"""The commands that write an index: ``index``, ``index-lexical``, ``add``, ``delete``, ``compact``, ``reproject``."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Iterator

import click

from ..errors import InputError
from ..index import DEFAULT_EF, DEFAULT_EF_CONSTRUCTION, DEFAULT_M, SPACES
from ..index.collection import refuse_collection
from ..index.building import DEFAULT_CHUNK
from .options import (CORPUS_HELP, _load_index_model, _load_model, _ray_encoder_settings, batch_option, ef_type,
                      encoder_options, json_option, lexical_options, lock_option, m_type, model_option, quiet_option,
                      ray_options)
from .output import _report, _say, _seconds, _setup


def _read_ids(value: str) -> tuple[list[str], bool]:
    """Doc ids from a file (one per line) or a comma-separated list, and whether they came from a file."""
    from ..data import read_text

    try:
        is_file = Path(value).is_file()
    except OSError:  # a list too long to be a file name
        is_file = False
    if is_file:
        return [line.strip() for line in read_text(value).splitlines() if line.strip()], True
    return [part.strip() for part in value.split(",") if part.strip()], False


@click.command("index")
@click.option("--corpus", "corpus_path", metavar="PATH", required=True, help=CORPUS_HELP)
@click.option("--output", metavar="DIR", required=True, help="The index folder to write.")
@model_option
@encoder_options
@click.option("--space", type=click.Choice(SPACES), default=None,
              help="Similarity space [default: the model's own, cosine for most].")
@click.option("--m", "m", default=DEFAULT_M, show_default=True, type=m_type, help="HNSW links per node.")
@click.option("--ef-construction", default=DEFAULT_EF_CONSTRUCTION, show_default=True, type=ef_type,
              help="HNSW build-time search depth.")
@click.option("--ef", default=DEFAULT_EF, show_default=True, type=ef_type,
              help="Default HNSW search depth, stored in the manifest.")
@batch_option
@click.option("--chunk-size", default=DEFAULT_CHUNK, show_default=True, type=click.IntRange(min=1),
              help="Documents per resumable encoding chunk (with --ray: per encoded block, an actor's unit of work).")
@click.option("--lexical", is_flag=True, help="Also build the BM25 side, for --mode lexical and hybrid.")
@lexical_options
@click.option("--shard", metavar="i/N", default=None,
              help="Index only shard i of N (0 <= i < N; documents split by a hash of their id). Search the "
                   "N shard indexes together with `search --index A --index B ...`.")
@click.option("--shards", type=int, default=None, metavar="N",
              help="Write a collection: the corpus split into N shard indexes in one folder, with the whole "
                   "corpus's BM25 statistics (lexical and hybrid search over it score as one index). "
                   "Search it with `--index DIR`.")
@ray_options
@click.option("--overwrite", is_flag=True, help="Replace an existing index at --output.")
@json_option("command, output, documents, dim, space, model, shard (\"i/N\" or null), shards (a collection's N, "
             "or absent), lexical, seconds")
@quiet_option
@lock_option("output")
def index_command(corpus_path, output, model_name, space, m, ef_construction, ef, batch_size, chunk_size,
                  lexical, stemmer, stopwords, shard, shards, ray_address, encoders, overwrite, as_json, quiet) -> None:
    """Encode a corpus and build an HNSW index folder (an interrupted build resumes when run again)."""
    from ..data import load_corpus
    from ..index import index_exists
    from ..index.building import build_index
    from ..index.collection import build_collection, check_shard_count
    from ..index.folder import check_replaceable, index_target
    from ..index.lexical import LexicalSettings
    from ..index.shards import parse_shard

    progress = _setup(quiet)
    start = time.perf_counter()
    out = Path(output)
    if out.exists() and not overwrite and not (out.is_dir() and not any(out.iterdir())):
        hint = "or `textmetric add` to add to it" if index_exists(out) else "or choose another folder"
        raise InputError(f"already exists: pass --overwrite to replace it, {hint}", out)
    check_replaceable(index_target(out))  # --overwrite replaces an index folder, nothing else
    settings = LexicalSettings.named(stopwords, stemmer) if lexical else None  # fails before any encoding
    part = parse_shard(shard) if shard else None
    if shard and shards is not None:
        raise InputError("--shard builds one shard index and --shards a whole collection: pass one of them")
    if shards is not None:
        check_shard_count(shards)  # below 1: before anything is read
    if ray_address is not None:
        if shard:
            raise InputError("--ray builds a whole collection (--shards N), not one --shard")
        from ..distributed.build import build_index_on_ray
        from ..distributed.cluster import check_address

        check_address(ray_address)
        _say(f"indexing {corpus_path} on Ray into a collection of {shards or 1} shards in {out}", quiet)
        collection = build_index_on_ray(corpus_path, out, shards=shards or 1, model=model_name, address=ray_address,
                                        encoders=encoders, **_ray_encoder_settings(), batch_size=batch_size,
                                        block_size=chunk_size, space=space, m=m, ef_construction=ef_construction,
                                        ef=ef, lexical=settings)
        return _collection_report(as_json, quiet, out, collection, shards or 1, settings, start)
    corpus = load_corpus(corpus_path)
    if shards is not None:
        check_shard_count(shards, len(corpus))
    model = _load_model(model_name)
    if shards is not None:
        _say(f"indexing {len(corpus)} documents into a collection of {shards} shards in {out}", quiet)
        with _kept_on_interrupt("the documents encoded and the shards built", quiet):
            collection = build_collection(model, corpus, out, shards=shards, model_name=model_name, space=space,
                                          m=m, ef_construction=ef_construction, ef=ef, batch_size=batch_size,
                                          chunk_size=chunk_size, lexical=settings, progress=progress)
        return _collection_report(as_json, quiet, out, collection, shards, settings, start)
    if part:
        _say(f"indexing shard {part[0]}/{part[1]} of {len(corpus)} documents into {out}", quiet)
    else:
        _say(f"indexing {len(corpus)} documents into {out}", quiet)
    with _kept_on_interrupt("the documents encoded", quiet):
        index = build_index(model, corpus, out, model_name=model_name, space=space, m=m,
                            ef_construction=ef_construction, ef=ef, batch_size=batch_size, chunk_size=chunk_size,
                            lexical=settings, shard=part, progress=progress)
    _report(as_json, quiet, {"command": "index", "output": str(out), "documents": len(index), "dim": index.dim,
                             "space": index.space, "model": (index.model or {}).get("name"),
                             "shard": f"{part[0]}/{part[1]}" if part else None, "lexical": settings is not None,
                             "seconds": _seconds(start)},
            f"index written to {out}: {len(index)} documents, dim {index.dim}, space {index.space}")


@contextlib.contextmanager
def _kept_on_interrupt(kept: str, quiet: bool) -> Iterator[None]:
    """On Ctrl-C, say that the work done so far (``kept``) waits in the work folder for a rerun."""
    try:
        yield
    except KeyboardInterrupt:
        _say(f"{kept} so far are kept: run the same command again to resume", quiet)
        raise


def _collection_report(as_json, quiet, out, collection, shards, settings, start) -> None:
    _report(as_json, quiet, {"command": "index", "output": str(out), "documents": len(collection),
                             "dim": collection.dim, "space": collection.space,
                             "model": (collection.model or {}).get("name"), "shard": None, "shards": shards,
                             "lexical": settings is not None, "seconds": _seconds(start)},
            f"collection written to {out}: {len(collection)} documents in {shards} shards, dim "
            f"{collection.dim}, space {collection.space}")


@click.command("index-lexical")
@click.option("--index", "index_dir", metavar="DIR", required=True, help="The index folder.")
@lexical_options
@json_option("command, index, documents, seconds")
@quiet_option
@lock_option("index_dir")
def index_lexical(index_dir, stemmer, stopwords, as_json, quiet) -> None:
    """Add the BM25 side to an existing index (or rebuild it with other settings); no model needed."""
    from ..index import Index
    from ..index.lexical import LexicalSettings

    _setup(quiet)
    start = time.perf_counter()
    settings = LexicalSettings.named(stopwords, stemmer)
    refuse_collection(index_dir, "index-lexical")
    index = Index.load(index_dir)
    index.enable_lexical(settings)
    index.save(index_dir)
    _report(as_json, quiet, {"command": "index-lexical", "index": str(index_dir), "documents": len(index),
                             "seconds": _seconds(start)},
            f"lexical side built for the {len(index)} documents of {index_dir}")


@click.command()
@click.option("--index", "index_dir", metavar="DIR", required=True, help="The index folder.")
@click.option("--corpus", "corpus_path", metavar="PATH", required=True,
              help="Documents to add or replace. " + CORPUS_HELP)
@model_option
@encoder_options
@batch_option
@json_option("command, index, added, replaced, documents (now in the index), seconds")
@quiet_option
@lock_option("index_dir")
def add(index_dir, corpus_path, model_name, batch_size, as_json, quiet) -> None:
    """Add documents to an index; a document whose id is already there is replaced."""
    from ..data import load_corpus
    from ..index import Index
    from ..index.building import add_documents

    progress = _setup(quiet)
    start = time.perf_counter()
    refuse_collection(index_dir, "add")
    index = Index.load(index_dir)
    corpus = load_corpus(corpus_path)
    model = _load_index_model(index, model_name)
    added, replaced = add_documents(index, model, corpus, batch_size=batch_size, progress=progress)
    index.save(index_dir)
    _report(as_json, quiet, {"command": "add", "index": str(index_dir), "added": added, "replaced": replaced,
                             "documents": len(index), "seconds": _seconds(start)},
            f"added {added}, replaced {replaced}: {index_dir} holds {len(index)} documents")


@click.command()
@click.option("--index", "index_dir", metavar="DIR", required=True, help="The index folder.")
@click.option("--ids", "ids_arg", metavar="FILE_OR_LIST", required=True,
              help="A file with one doc id per line, or a comma-separated list.")
@json_option("command, index, deleted, not_found (ids not in the index), documents (left), seconds")
@quiet_option
@lock_option("index_dir")
def delete(index_dir, ids_arg, as_json, quiet) -> None:
    """Delete documents from an index; they never come back from a search (compact reclaims the space)."""
    from ..errors import warn
    from ..index import Index

    _setup(quiet)
    start = time.perf_counter()
    ids, from_file = _read_ids(ids_arg)
    if not ids:
        raise InputError(f"no ids to delete in '{ids_arg}'")
    refuse_collection(index_dir, "delete")
    index = Index.load(index_dir)
    missing = index.delete(ids)  # an id not in the index changes nothing
    if len(missing) == len(set(ids)):  # nothing deleted: the index is left as it was, not saved again
        if not from_file and len(missing) == 1:  # one name, neither a file nor an id: a mistyped file name?
            raise InputError("no such file, and no such id in the index", ids_arg)
        warn(f"none of the {len(missing)} id(s) is in the index (first: '{missing[0]}'): nothing was deleted")
    else:
        if missing:
            warn(f"{len(missing)} id(s) were not in the index (first: '{missing[0]}')")
        index.save(index_dir)
    deleted = len(set(ids)) - len(missing)
    _report(as_json, quiet, {"command": "delete", "index": str(index_dir), "deleted": deleted,
                             "not_found": len(missing), "documents": len(index), "seconds": _seconds(start)},
            f"deleted {deleted}: {index_dir} holds {len(index)} documents")


@click.command()
@click.option("--index", "index_dir", metavar="DIR", required=True, help="The index folder.")
@json_option("command, index, vectors_before, documents (vectors after), seconds")
@quiet_option
@lock_option("index_dir")
def compact(index_dir, as_json, quiet) -> None:
    """Rebuild an index's graph from its live documents, reclaiming the space deleted ones take."""
    from ..index import Index

    _setup(quiet)
    start = time.perf_counter()
    refuse_collection(index_dir, "compact")
    index = Index.load(index_dir)
    before = index.element_count
    index.compact().save(index_dir)
    _report(as_json, quiet, {"command": "compact", "index": str(index_dir), "vectors_before": before,
                             "documents": len(index), "seconds": _seconds(start)},
            f"compacted {index_dir}: {before} vectors -> {len(index)}")


@click.command()
@click.option("--index", "index_dir", metavar="DIR", required=True, help="An index built with the adapter's encoder.")
@click.option("--model", "model_name", metavar="PATH", required=True, help="A model trained with --adapter linear.")
@click.option("--output", metavar="DIR", required=True, help="The re-projected index folder to write.")
@json_option("command, index, output, documents, dim, space, seconds")
@quiet_option
@lock_option("output")
def reproject(index_dir, model_name, output, as_json, quiet) -> None:
    """Apply a linear adapter's W to an index's stored vectors: a new index without re-encoding the corpus."""
    from ..training.adapter import reproject_index
    from ..encoding import load_model
    from ..index import Index

    _setup(quiet)
    start = time.perf_counter()
    if Path(output).exists():
        raise InputError("already exists: choose another output folder", output)
    fresh = reproject_index(Index.load(index_dir), load_model(model_name), output, adapted_name=model_name)
    _report(as_json, quiet, {"command": "reproject", "index": str(index_dir), "output": str(output),
                             "documents": len(fresh), "dim": fresh.dim, "space": fresh.space,
                             "seconds": _seconds(start)},
            f"re-projected {len(fresh)} documents into {output} (space {fresh.space}, dim {fresh.dim})")

