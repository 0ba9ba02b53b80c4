"""Fusing two rankings: reciprocal rank fusion and the normalised score combination, checked by hand."""

import pytest

from textmetric.errors import InputError
from textmetric.search.fusion import reciprocal_rank_fusion, score_fusion

DENSE = [("a", 0.9), ("b", 0.7), ("c", 0.5)]
LEXICAL = [("c", 12.0), ("d", 6.0), ("a", 3.0)]


def test_rrf_sums_one_over_k_plus_rank_by_hand():
    # dense ranks a 1, b 2, c 3; lexical ranks c 1, a 2, d 3.
    fused = reciprocal_rank_fusion([DENSE, [("c", 12.0), ("a", 6.0), ("d", 3.0)]], k=60)
    assert [doc for doc, _ in fused] == ["a", "c", "b", "d"]
    assert dict(fused) == pytest.approx({"a": 1 / 61 + 1 / 62, "c": 1 / 63 + 1 / 61, "b": 1 / 62, "d": 1 / 63})


def test_rrf_counts_only_the_rankings_that_contain_a_document():
    fused = dict(reciprocal_rank_fusion([[("x", 5.0)], [("y", 1.0), ("x", 0.5)]], k=1))
    assert fused == pytest.approx({"x": 1 / 2 + 1 / 3, "y": 1 / 2})


def test_rrf_ignores_the_scores():
    assert reciprocal_rank_fusion([DENSE]) == reciprocal_rank_fusion([[(d, 100 - i) for i, (d, _) in
                                                                       enumerate(DENSE)]])


def test_rrf_ties_are_broken_by_doc_id_descending():
    fused = reciprocal_rank_fusion([[("x", 1.0), ("y", 0.5)], [("y", 1.0), ("x", 0.5)]])
    assert [doc for doc, _ in fused] == ["y", "x"]


def test_score_fusion_mixes_min_max_normalised_scores_by_hand():
    # dense normalised: a 1, b 0.5, c 0; lexical normalised: c 1, d 1/3, a 0; missing docs get 0.
    fused = score_fusion(DENSE, LEXICAL, alpha=0.6)
    assert [doc for doc, _ in fused] == ["a", "c", "b", "d"]
    assert dict(fused) == pytest.approx({"a": 0.6, "c": 0.4, "b": 0.3, "d": 0.4 / 3})


def test_score_fusion_with_alpha_one_keeps_the_dense_order_then_lexical_only_documents():
    assert [doc for doc, _ in score_fusion(DENSE, LEXICAL, alpha=1.0)] == ["a", "b", "d", "c"]


def test_score_fusion_with_alpha_zero_keeps_the_lexical_order():
    assert [doc for doc, _ in score_fusion(DENSE, LEXICAL, alpha=0.0)][:3] == ["c", "d", "b"]


def test_a_side_whose_scores_are_all_equal_normalises_to_one():
    assert dict(score_fusion([("a", 0.3)], [("b", 2.0), ("c", 2.0)], alpha=0.5)) == {"a": 0.5, "b": 0.5, "c": 0.5}


def test_fusing_nothing_gives_nothing():
    assert reciprocal_rank_fusion([[], []]) == [] and score_fusion([], []) == []


def test_alpha_outside_zero_one_is_refused():
    with pytest.raises(InputError, match="alpha"):
        score_fusion(DENSE, LEXICAL, alpha=1.5)


def test_a_negative_rrf_constant_is_refused():
    with pytest.raises(InputError, match="k must be a finite number >= 0"):
        reciprocal_rank_fusion([DENSE], k=-1)


@pytest.mark.parametrize("k", [float("nan"), float("inf")])
def test_a_non_finite_rrf_constant_is_refused(k):
    with pytest.raises(InputError, match="k must be a finite number >= 0"):
        reciprocal_rank_fusion([DENSE], k=k)


@pytest.mark.parametrize("alpha", [float("nan"), float("inf")])
def test_a_non_finite_alpha_is_refused(alpha):
    with pytest.raises(InputError, match=r"alpha must be a finite number in \[0, 1\]"):
        score_fusion(DENSE, LEXICAL, alpha=alpha)
