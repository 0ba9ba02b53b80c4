"""The parts of an index: vector indexes under integer labels, and the document store that names them."""

import numpy as np
import pytest

from textmetric.data import Document
from textmetric.index.docstore import DocStore
from textmetric.index.vectors import ExactVectors, HnswVectors
from textmetric.search.ranking import id_ranks


def vectors(n=40, dim=8, seed=0):
    return np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)


@pytest.mark.parametrize("space", ["cosine", "ip", "l2"])
def test_hnsw_and_exact_vectors_find_the_same_labels_with_the_same_scores(space):
    data, queries, labels = vectors(), vectors(5, seed=1), np.arange(100, 140)
    hnsw, exact = HnswVectors(8, space, ef=200), ExactVectors(8, space)
    hnsw.add(data, labels)
    exact.add(data, labels)
    (hl, hs), (el, es) = hnsw.search(queries, 5, ef=200), exact.search(queries, 5)
    assert hl.tolist() == el.tolist()
    np.testing.assert_allclose(hs, es, rtol=1e-4, atol=1e-4)


def test_exact_vectors_never_return_a_deleted_label():
    exact = ExactVectors(8)
    exact.add(vectors(), np.arange(40))
    exact.delete(range(0, 40, 2))
    labels, _ = exact.search(vectors(10, seed=2), 20)
    assert sorted(labels[0].tolist()) == list(range(1, 40, 2))


def test_exact_vectors_break_ties_at_the_cut_by_the_rank_they_are_given():
    exact = ExactVectors(3)
    exact.add(np.ones((6, 3), dtype=np.float32), np.arange(6))
    labels, _ = exact.search(np.ones((1, 3), dtype=np.float32), 2, tie_rank=np.array([5, 4, 3, 2, 1, 0]))
    assert labels.tolist() == [[5, 4]]


def test_exact_vectors_round_trip_through_a_file_without_their_deleted_rows(tmp_path):
    exact = ExactVectors(8, "l2")
    exact.add(vectors(), np.arange(40))
    exact.delete([3, 7])
    exact.save(tmp_path / "v.npz")
    loaded = ExactVectors.load(tmp_path / "v.npz")
    queries = vectors(4, seed=3)
    assert loaded.space == "l2" and loaded.live_labels.tolist() == exact.live_labels.tolist()
    assert [a.tolist() for a in loaded.search(queries, 10)] == [a.tolist() for a in exact.search(queries, 10)]


def test_hnsw_vectors_are_read_back_with_what_the_caller_recorded(tmp_path):
    hnsw = HnswVectors(8, "ip", m=8, ef=30)
    hnsw.add(vectors(), np.arange(40))
    hnsw.save(tmp_path / "g.bin")
    loaded = HnswVectors.load(tmp_path / "g.bin", 8, "ip", elements=40, m=8, ef=30)
    np.testing.assert_array_equal(loaded.vectors([5, 6]), hnsw.vectors([5, 6]))
    assert (loaded.element_count, loaded.ef, loaded.m) == (40, 30, 8)


def test_the_document_store_never_hands_out_a_label_twice():
    docs = DocStore()
    assert docs.add(np.array([0, 1]), ["a", "b"], [Document("A"), Document("B")]) == []
    docs.remove(["a"])
    assert docs.add(np.array([2]), ["b"], [Document("B2")]) == [1]
    assert docs.next_label == 3 and docs.ids == ["b"] and docs.labels(["b"]) == [2]
    assert docs.document("b") == Document("B2") and docs.document("a") is None


def test_the_document_store_gives_trec_evals_tie_rank_by_label(tmp_path):
    docs = DocStore()
    ids = ["d1", "d10", "d9", "d2"]
    docs.add(np.arange(4), ids)
    assert docs.tie_rank().tolist() == id_ranks(ids).tolist()
    docs.save(tmp_path / "docs.sqlite")
    loaded = DocStore.load(tmp_path / "docs.sqlite", next_label=4)
    assert loaded.ids == ids and loaded.ids_by_label[:4].tolist() == ids
