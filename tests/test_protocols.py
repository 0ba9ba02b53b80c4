"""Every index -- HNSW, exact, shards searched together -- answers the same protocols the same way."""

import numpy as np
import pytest

from textmetric.data import Document
from textmetric.errors import InputError
from textmetric.index import DenseSearch, DocumentLookup, ExactIndex, Index, LexicalSearch, SearchIndex, VectorLookup
from textmetric.index.shards import ShardedIndex, select_shard
from textmetric.search.retriever import Retriever

IDS = [f"d{i}" for i in range(12)]
DOCS = {d: Document(f"text of {d}", f"title {d}") for d in IDS}
VECTORS = np.random.default_rng(0).normal(size=(len(IDS), 6)).astype(np.float32)


def make(kind):
    if kind == "exact":
        return ExactIndex(IDS, VECTORS, documents=list(DOCS.values()))
    if kind == "hnsw":
        index = Index(6, ef=50)
        index.add(IDS, VECTORS, list(DOCS.values()))
        return index
    shards = []
    for i in range(2):
        part = list(select_shard(DOCS, (i, 2)))
        shard = Index(6, ef=50)
        shard.add(part, VECTORS[[IDS.index(d) for d in part]], [DOCS[d] for d in part])
        shards.append(shard)
    return ShardedIndex(shards)


KINDS = ["exact", "hnsw", "sharded"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_index_answers_every_protocol(kind):
    index = make(kind)
    for protocol in (DenseSearch, LexicalSearch, VectorLookup, DocumentLookup, SearchIndex):
        assert isinstance(index, protocol), protocol.__name__


@pytest.mark.parametrize("kind", KINDS)
def test_every_index_finds_the_same_neighbours(kind):
    queries = np.random.default_rng(1).normal(size=(4, 6)).astype(np.float32)
    expected = make("exact").search(queries, 5)
    found = make(kind).search(queries, 5)
    assert [[d for d, _ in hits] for hits in found] == [[d for d, _ in hits] for hits in expected]


@pytest.mark.parametrize("kind", KINDS)
def test_every_index_gives_the_stored_vectors_and_documents_by_id(kind):
    index = make(kind)
    unit = VECTORS / np.linalg.norm(VECTORS, axis=1, keepdims=True)
    np.testing.assert_allclose(index.embeddings(["d7", "d2"]), unit[[7, 2]], atol=1e-6)
    assert index.document("d3") == DOCS["d3"] and index.document("nope") is None
    assert sorted(index.ids) == sorted(IDS) and len(index) == 12 and "d5" in index and "nope" not in index


@pytest.mark.parametrize("kind", KINDS)
def test_every_index_without_a_lexical_side_refuses_a_lexical_retriever(kind):
    index = make(kind)
    assert index.lexical_settings is None
    with pytest.raises(InputError, match="lexical"):
        Retriever(None, index, mode="lexical")


def test_exact_search_over_documents_can_have_a_lexical_side_too():
    index = make("exact")
    index.enable_lexical()
    run = Retriever(None, index, mode="lexical").search({"q": "text of d4"}, k=1)
    assert list(run["q"]) == ["d4"]
