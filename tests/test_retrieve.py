"""ExactIndex and Retriever: brute-force search in trec_eval's order."""

import numpy as np
import pytest

from textmetric.errors import InputError
from textmetric.index import ExactIndex
from textmetric.search.retriever import Retriever


def test_exact_search_ranks_by_cosine_similarity():
    index = ExactIndex(["a", "b", "c"], np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float32))
    [hits] = index.search(np.array([[2, 0.1]], dtype=np.float32), k=3)
    assert [doc for doc, _ in hits] == ["a", "c", "b"]
    assert hits[0][1] == pytest.approx(2 / np.hypot(2, 0.1), abs=1e-6)


def test_ties_are_broken_by_doc_id_descending():
    ids = ["d1", "d10", "d9", "d2"]
    index = ExactIndex(ids, np.ones((4, 2), dtype=np.float32))
    [hits] = index.search(np.ones((1, 2), dtype=np.float32), k=4)
    assert [doc for doc, _ in hits] == ["d9", "d2", "d10", "d1"]


def test_ties_at_the_cut_keep_the_doc_ids_trec_eval_would_rank_first():
    ids = [f"d{i}" for i in range(10)]
    index = ExactIndex(ids, np.ones((10, 3), dtype=np.float32))
    [hits] = index.search(np.ones((1, 3), dtype=np.float32), k=3)
    assert [doc for doc, _ in hits] == ["d9", "d8", "d7"]


def test_k_larger_than_the_corpus_returns_every_document():
    index = ExactIndex(["a", "b"], np.eye(2, dtype=np.float32))
    [hits] = index.search(np.array([[1, 0]], dtype=np.float32), k=100)
    assert len(hits) == 2


def test_inner_product_space_does_not_normalise():
    index = ExactIndex(["short", "long"], np.array([[1, 0], [3, 3]], dtype=np.float32), space="ip")
    [hits] = index.search(np.array([[1, 0]], dtype=np.float32), k=2)
    assert hits == [("long", 3.0), ("short", 1.0)]


def test_l2_space_scores_are_negative_squared_distances():
    index = ExactIndex(["near", "far"], np.array([[1, 0], [4, 4]], dtype=np.float32), space="l2")
    [hits] = index.search(np.array([[0, 0]], dtype=np.float32), k=2)
    assert hits == [("near", -1.0), ("far", -32.0)]


def test_exact_search_matches_a_brute_force_sort():
    rng = np.random.default_rng(0)
    docs = rng.normal(size=(50, 8)).astype(np.float32)
    queries = rng.normal(size=(7, 8)).astype(np.float32)
    ids = [f"doc{i}" for i in range(50)]
    index = ExactIndex(ids, docs)
    unit = docs / np.linalg.norm(docs, axis=1, keepdims=True)
    for query, hits in zip(queries, index.search(queries, k=5, chunk=3)):
        scores = unit @ (query / np.linalg.norm(query))
        expected = np.argsort(-scores)[:5]  # random scores: no ties
        assert [doc for doc, _ in hits] == [ids[i] for i in expected]


def test_unknown_space_is_rejected():
    with pytest.raises(InputError, match="unknown space 'hamming'"):
        ExactIndex(["a"], np.ones((1, 2), dtype=np.float32), space="hamming")


def test_retriever_returns_a_run_keyed_by_query_id(tiny_model):
    corpus_texts = {"d1": "cats purr", "d2": "dogs bark", "d3": "python code"}
    from textmetric.data import Document

    index = ExactIndex.build(tiny_model, {i: Document(t) for i, t in corpus_texts.items()})
    run = Retriever(tiny_model, index).search({"q1": "cats purr", "q2": "python"}, k=2)
    assert set(run) == {"q1", "q2"}
    assert all(len(hits) == 2 for hits in run.values())
    assert max(run["q1"], key=run["q1"].get) == "d1"  # an identical text is its own nearest neighbour


def test_retriever_numbers_a_list_of_queries_by_position(tiny_model):
    from textmetric.data import Document

    index = ExactIndex.build(tiny_model, {"d1": Document("a"), "d2": Document("b")})
    run = Retriever(tiny_model, index).search(["a", "b", "c"], k=1)
    assert list(run) == ["0", "1", "2"]


def test_retriever_rejects_k_below_one(tiny_model):
    from textmetric.data import Document

    index = ExactIndex.build(tiny_model, {"d1": Document("a")})
    with pytest.raises(InputError, match="k must be at least 1"):
        Retriever(tiny_model, index).search(["a"], k=0)


@pytest.mark.parametrize("setting", [{"rrf_k": float("nan")}, {"rrf_k": float("inf")}, {"alpha": float("nan")},
                                     {"alpha": -0.5}])
def test_a_fusion_setting_out_of_its_range_is_refused_when_the_retriever_is_made(setting):
    with pytest.raises(InputError, match=f"^{next(iter(setting))} must be a finite number"):
        Retriever(None, object(), mode="hybrid", **setting)
