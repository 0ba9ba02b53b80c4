"""Hits in trec_eval's order: made once where a ranking is made, merged, and never re-sorted by readers."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from textmetric.search.ranking import id_ranks, merge_top_k, ordered, rank, sorted_rows, top_k

IDS = [f"d{i}" for i in range(12)]
SCORES = st.sampled_from([0.0, 0.5, 0.5 + 1e-12, 1.0, -2.0, float("nan"), 1e39])


@settings(max_examples=200, deadline=None)
@given(scores=st.dictionaries(st.sampled_from(IDS), SCORES, max_size=12))
def test_a_mapping_in_trec_eval_order_ranks_as_it_stands_and_any_other_is_sorted_into_it(scores):
    expected = rank(scores)
    assert rank(dict(ordered(scores))) == expected == list(dict(ordered(scores)))


def test_a_mapping_already_in_order_is_not_sorted_again(monkeypatch):
    import textmetric.search.ranking as ranking

    def refuse(*args, **kwargs):
        raise AssertionError("sorted a mapping that was in trec_eval order already")

    monkeypatch.setattr(ranking, "sorted", refuse, raising=False)  # found before the builtin
    assert rank({"top": 2.0, "d9": 1.0, "d10": 1.0, "d1": 1.0}) == ["top", "d9", "d10", "d1"]


def test_the_cut_at_k_keeps_the_ids_trec_eval_ranks_first_among_ties():
    ids = [f"d{i}" for i in range(10)]
    chosen = top_k(np.ones(10, dtype=np.float32), np.arange(10), 3, id_ranks(ids))
    assert [ids[i] for i in chosen] == ["d9", "d8", "d7"]


def test_rows_sorted_by_score_get_their_ties_in_doc_id_order():
    ids = np.array([["d1", "d10", "d9"], ["a", "b", "c"]], dtype=object)
    scores = np.array([[1.0, 1.0, 0.5], [0.9, 0.8, 0.7]], dtype=np.float32)
    assert sorted_rows(ids, scores) == [[("d10", 1.0), ("d1", 1.0), ("d9", 0.5)],
                                        [("a", 0.8999999761581421), ("b", 0.800000011920929),
                                         ("c", 0.699999988079071)]]


def test_merging_rankings_keeps_each_documents_best_score_and_the_top_k_in_trec_eval_order():
    merged = merge_top_k([[("a", 0.9), ("b", 0.5)], [("c", 0.7), ("b", 0.8), ("d", 0.5)]], 3)
    assert merged == [("a", 0.9), ("b", 0.8), ("c", 0.7)]
    assert merge_top_k([[("d1", 0.5)], [("d9", 0.5)]], 2) == [("d9", 0.5), ("d1", 0.5)]
