"""Past one machine: a corpus split into shards by a hash of each document id, searched together.

Each shard is an ordinary index (``textmetric index --shard i/N``), built wherever there is
room — one per machine for a corpus too large for one. A :class:`ShardedIndex` searches
every shard for the top ``k`` and merges the lists by score (:func:`merge_shard_hits`, the one
merge, which a fan-out over machines uses too): the exact top ``k`` of the union, since every
document of the global top ``k`` is in its own shard's top ``k``. BM25 scores compare across
shards only when every shard scores with the statistics of the whole corpus, as the shards
of a collection do (:mod:`textmetric.index.collection`); separate shard indexes are searched
densely only.
"""

from __future__ import annotations

import hashlib
import os
from typing import Sequence

import numpy as np

from ..data import Corpus, Document
from ..encoding import recorded_prompts
from ..errors import InputError
from .filters import Filter, FilterSpec, checked_filter
from ..search.ranking import Hits, merge_top_k
from .index import Index
from .lexical import LexicalSettings

__all__ = ["shard_of", "SHARD_HASH", "PER_SHARD", "parse_shard", "select_shard", "merge_shard_hits", "ShardedIndex",
           "load_indexes"]

SHARD_HASH = "sha256-first-8-bytes-big-endian-mod-n"  # how shard_of splits: recorded by a collection
# BM25 statistics (document frequencies) are per shard, so scores of two shards do not compare: dense only.
PER_SHARD = ("lexical and hybrid search need one index or a collection (`textmetric index --shards N`): BM25 "
              "statistics are per shard when shards are built separately")


def shard_of(doc_id: str, count: int) -> int:
    """The shard (0 … count − 1) a document id belongs to: stable across runs, machines and corpus order."""
    return int.from_bytes(hashlib.sha256(doc_id.encode("utf-8")).digest()[:8], "big") % count


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/N"`` → (i, N) with 0 ≤ i < N."""
    try:
        i, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise InputError(f"--shard takes i/N (e.g. 0/4, shards numbered from 0), got '{text}'") from None
    if n < 1 or not 0 <= i < n:
        raise InputError(f"--shard {text}: need N >= 1 and 0 <= i < N")
    return i, n


def select_shard(corpus: Corpus, shard: tuple[int, int]) -> Corpus:
    """The documents of ``corpus`` that belong to ``shard`` = (i, N)."""
    i, n = shard
    return {doc_id: doc for doc_id, doc in corpus.items() if shard_of(doc_id, n) == i}


def merge_shard_hits(per_shard: Sequence[Sequence[Hits]], k: int) -> list[Hits]:
    """Each query's top ``k`` over all shards, from each shard's own top ``k`` per query (``per_shard[s][q]``),
    dense or lexical alike; a document in two shards counts once."""
    return [merge_top_k(lists, k) for lists in zip(*per_shard)]


class ShardedIndex:
    """Several indexes of one model, searched as one: each shard's top k, merged by score.

    ``lexical_refusal``: why lexical and hybrid search are refused, or None where the shards' BM25
    scores compare (a collection's, scored with the statistics of the whole corpus).
    """

    def __init__(self, shards: Sequence[Index], names: Sequence[str] | None = None, *,
                 lexical_refusal: str | None = PER_SHARD) -> None:
        if not shards:
            raise InputError("no index to search")
        names = list(names) if names is not None else [f"index {i}" for i in range(len(shards))]
        first = shards[0]
        for shard, name in zip(shards[1:], names[1:]):
            if (shard.dim, shard.space) != (first.dim, first.space):
                raise InputError(f"{name} holds {shard.dim}-d {shard.space} vectors but {names[0]} holds "
                                 f"{first.dim}-d {first.space} ones: shards must come from one model")
            mine, theirs = (shard.model or {}).get("weights_sha256"), (first.model or {}).get("weights_sha256")
            if mine != theirs:
                raise InputError(f"{name} was built with other model weights than {names[0]}: shards must "
                                 f"share one model")
            if recorded_prompts(shard.model) != recorded_prompts(first.model):
                raise InputError(f"{name} was built with other prompts than {names[0]}: shards must share them")
        recorded = [s.shard for s in shards]
        if all(r is not None for r in recorded):
            if len({r[1] for r in recorded}) > 1 or len({r[0] for r in recorded}) < len(recorded):
                raise InputError(f"the shards do not fit together: {', '.join(f'{i}/{n}' for i, n in recorded)}")
        self.shards = list(shards)
        self.dim, self.space, self.model = first.dim, first.space, first.model
        self.lexical_refusal = lexical_refusal

    @property
    def ef(self) -> int:
        return self.shards[0].ef

    @ef.setter
    def ef(self, value: int) -> None:
        for shard in self.shards:
            shard.ef = value

    def __len__(self) -> int:
        return sum(len(s) for s in self.shards)

    def __contains__(self, doc_id: object) -> bool:
        return any(doc_id in s for s in self.shards)

    @property
    def ids(self) -> list[str]:
        return [doc_id for s in self.shards for doc_id in s.ids]

    def document(self, doc_id: str) -> Document | None:
        for shard in self.shards:
            doc = shard.document(doc_id)
            if doc is not None:
                return doc
        return None

    def field_kinds(self) -> dict[str, frozenset[str]]:
        """Each field some document of some shard has, and the kinds of value it holds in any of them."""
        kinds: dict[str, frozenset[str]] = {}
        for shard in self.shards:
            for name, held in shard.field_kinds().items():
                kinds[name] = kinds.get(name, frozenset()) | held
        return dict(sorted(kinds.items()))

    def check_filter(self, filter: FilterSpec) -> Filter | None:
        """``filter`` parsed and checked against the fields of all the shards together."""
        return checked_filter(filter, self.field_kinds)

    def embeddings(self, doc_ids: Sequence[str]) -> np.ndarray:
        """The stored vectors of ``doc_ids``, each fetched from its shard in one call per shard."""
        out = np.empty((len(doc_ids), self.dim), dtype=np.float32)
        rows_of: dict[int, list[int]] = {}
        for row, doc_id in enumerate(doc_ids):
            number = next((n for n, s in enumerate(self.shards) if doc_id in s), None)
            if number is None:
                raise KeyError(doc_id)
            rows_of.setdefault(number, []).append(row)
        for number, rows in rows_of.items():
            out[rows] = self.shards[number].embeddings([doc_ids[r] for r in rows])
        return out

    def search(self, query_embeddings: np.ndarray, k: int, ef: int | None = None, *,
               filter: FilterSpec = None) -> list[Hits]:
        """Top ``k`` per query over all shards, in trec_eval order (score descending, ties by id descending);
        each shard filtered by ``filter`` (checked once, against the fields of every shard) before the merge."""
        spec = self.check_filter(filter)
        return merge_shard_hits([s.search(query_embeddings, k, ef, filter=spec) for s in self.shards], k)

    def changed(self) -> bool:
        """Whether any shard's folder holds a newer generation than the one loaded (see :meth:`Index.changed`)."""
        return any(shard.changed() for shard in self.shards)

    @property
    def lexical_settings(self) -> LexicalSettings | None:
        """The shards' BM25 settings where their scores compare (a collection's), else None."""
        return None if self.lexical_refusal is not None else self.shards[0].lexical_settings

    def check_lexical(self, mode: str) -> None:
        """Refuse lexical and hybrid modes (``mode``) unless the shards' BM25 scores compare."""
        if self.lexical_refusal is not None:
            raise InputError(f"mode '{mode}': {self.lexical_refusal}")

    def search_lexical(self, query_texts: Sequence[str], k: int, *, filter: FilterSpec = None) -> list[Hits]:
        """Top ``k`` per query by BM25 over all shards (each filtered by ``filter``), merged as dense hits are."""
        self.check_lexical("lexical")
        spec = self.check_filter(filter)
        return merge_shard_hits([s.search_lexical(query_texts, k, filter=spec) for s in self.shards], k)


def load_indexes(paths: Sequence[str | os.PathLike]) -> "Index | ShardedIndex":
    """One index folder as an :class:`Index`, a collection folder or several index folders as a
    :class:`ShardedIndex`."""
    if len(paths) == 1:
        return Index.load(paths[0])
    loaded = [Index.load(p) for p in paths]
    if any(isinstance(index, ShardedIndex) for index in loaded):
        raise InputError("a collection folder is searched alone: pass it as the only --index")
    return ShardedIndex(loaded, [str(p) for p in paths])
