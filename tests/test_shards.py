"""Shard-and-merge: a corpus split by a hash of its ids, indexed per shard, searched together."""

import json

import numpy as np
import pytest

from textmetric.data import Document
from textmetric.errors import InputError
from textmetric.index import Index
from textmetric.index.shards import ShardedIndex, parse_shard, select_shard, shard_of

IDS = [f"doc{i}" for i in range(60)]
CORPUS = {d: Document(f"text of {d}") for d in IDS}


def vectors(seed=0, n=len(IDS), dim=8):
    return np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)


def build(ids, embeddings, shard=None, model=None):
    index = Index(embeddings.shape[1], "cosine", model=model or {"weights_sha256": "w"}, ef=200)
    index.shard = shard
    index.add(list(ids), embeddings, [CORPUS[d] for d in ids])
    return index


def test_every_document_lands_in_exactly_one_shard():
    parts = [select_shard(CORPUS, (i, 3)) for i in range(3)]
    assert sorted(d for part in parts for d in part) == sorted(IDS) and all(parts)


def test_the_shard_of_an_id_does_not_depend_on_the_corpus_or_the_run():
    assert shard_of("doc7", 4) == shard_of("doc7", 4) == int.from_bytes(
        __import__("hashlib").sha256(b"doc7").digest()[:8], "big") % 4


def test_searching_the_shards_together_equals_searching_one_index():
    embeddings = vectors()
    whole = build(IDS, embeddings)
    row = {d: i for i, d in enumerate(IDS)}
    shards = []
    for i in range(3):
        part = list(select_shard(CORPUS, (i, 3)))
        shards.append(build(part, embeddings[[row[d] for d in part]], shard=(i, 3)))
    queries = vectors(seed=1, n=5)
    assert ShardedIndex(shards).search(queries, 10) == whole.search(queries, 10)


def test_shards_of_different_models_are_refused():
    a = build(IDS[:5], vectors(n=5), model={"weights_sha256": "a"})
    b = build(IDS[5:10], vectors(n=5), model={"weights_sha256": "b"})
    with pytest.raises(InputError, match="other model weights"):
        ShardedIndex([a, b], ["A", "B"])


def test_two_copies_of_one_shard_are_refused():
    a = build(IDS[:5], vectors(n=5), shard=(0, 2))
    b = build(IDS[5:10], vectors(n=5), shard=(0, 2))
    with pytest.raises(InputError, match="do not fit together: 0/2, 0/2"):
        ShardedIndex([a, b])


def test_hybrid_search_over_shards_is_refused():
    with pytest.raises(InputError, match="BM25 statistics are per shard"):
        ShardedIndex([build(IDS[:5], vectors(n=5))]).search_lexical(["text"], 3)


@pytest.mark.parametrize("text", ["3", "2/2", "a/b", "-1/2", "0/0"])
def test_a_malformed_shard_is_a_clear_error(text):
    with pytest.raises(InputError, match="--shard"):
        parse_shard(text)


# -- on the command line -------------------------------------------------------------------------

@pytest.fixture
def shard_indexes(cli, beir_dir, tiny_model_path, tmp_path):
    paths = []
    for i in range(2):
        out = tmp_path / f"shard{i}"
        code, _, err = cli("index", "--corpus", beir_dir, "--output", out, "--model", tiny_model_path,
                           "--shard", f"{i}/2", "-q")
        assert code == 0, err
        paths.append(out)
    code, _, err = cli("index", "--corpus", beir_dir, "--output", tmp_path / "whole", "--model", tiny_model_path,
                       "-q")
    assert code == 0, err
    return paths, tmp_path / "whole"


def test_shard_indexes_record_their_shard_and_split_the_corpus(shard_indexes):
    paths, whole = shard_indexes
    loaded = [Index.load(p) for p in paths]
    assert [i.shard for i in loaded] == [(0, 2), (1, 2)]
    assert sorted(d for i in loaded for d in i.ids) == sorted(Index.load(whole).ids)


def test_search_over_shard_indexes_gives_the_single_index_hits(cli, shard_indexes):
    paths, whole = shard_indexes
    _, merged, _ = cli("search", "rabbit pillow", "--index", paths[0], "--index", paths[1], "--json", "-k", "5")
    _, single, _ = cli("search", "rabbit pillow", "--index", whole, "--json", "-k", "5")
    assert [(h["doc_id"], h["score"]) for h in json.loads(merged)["hits"]] == \
        [(h["doc_id"], h["score"]) for h in json.loads(single)["hits"]]


def test_adding_a_document_of_another_shard_is_refused(cli, shard_indexes, tmp_path):
    from conftest import write_jsonl

    paths, _ = shard_indexes
    stray = next(f"new{i}" for i in range(100) if shard_of(f"new{i}", 2) == 1)
    code, _, err = cli("add", "--index", paths[0], "--corpus",
                       write_jsonl(tmp_path / "new.jsonl", [{"_id": stray, "text": "a new text"}]))
    assert code == 2 and "belong to other shards" in err and err.count("\n") == 1


def test_compacting_a_shard_index_keeps_its_shard(tmp_path):
    index = build(IDS[:5], vectors(n=5), shard=(1, 3))
    index.delete([IDS[0]])
    index.compact().save(tmp_path / "idx")
    assert Index.load(tmp_path / "idx").shard == (1, 3)
