"""textmetric.evaluation.metrics: trec_eval's numbers (pytrec_eval is the reference), ties and all.

Behaviour of pytrec_eval (trec_eval 9) checked by hand before writing these tests:
* a qrels query whose judgments are all 0 (or negative) is evaluated and scores 0 everywhere;
* a run query with an empty dict is evaluated (an empty ranking: 0 everywhere);
* SURPRISE: an empty ranking for a judged query segfaults trec_eval if no ranking with a document has been
  evaluated yet in the process. form_res_rels.c's static buffers are then still NULL; te_chk_and_malloc
  returns that NULL for 0 entries, so te_form_res_rels fails, but only after caching the query id. The
  next measure on that query gets the "cached" result, whose rel_levels is NULL, and bpref (asked after
  map or Rprec) reads rel_levels[0]. Once a non-empty ranking has been evaluated the buffers are freed but
  never reset to NULL and the same input scores 0, so a pytest run crashes or not depending on the order
  in which hypothesis draws examples. The generated runs have no empty ranking; textmetric scores one 0
  everywhere (a golden test below);
* SURPRISE: a qrels query with an *empty* judgments dict is not evaluated at all (no result row),
  like a query with no line in a qrels file; textmetric skips it too, even with complete=True;
* negative grades never count: not relevant at any level, and no (negative) gain in nDCG
  (trec_eval reads a negative grade as "in the pool but unjudged");
* SURPRISE: a qrels query whose grades are *all* negative gives zeros on its own, but corrupts
  trec_eval's memory (form_res_rels.c allocates and memsets max_rel + 1 <= 0 levels and keeps a stale
  level count): later evaluations hang or segfault. The generated qrels avoid it; textmetric
  evaluates such a query and scores it 0 everywhere;
* nDCG ignores relevance_level (grade 1 still gains 1 at level 2);
* SURPRISE: RelevanceEvaluator refuses relevance_level=0 ("should be positive") but accepts -1
  and then returns all zeros and later hung; textmetric requires an integer level >= 1;
* scores beyond float32's range (1e39, 1e40) both become inf and tie; -0.0 ties with 0.0.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import pytrec_eval
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from textmetric.errors import InputError
from textmetric.evaluation.metrics import (
    DEFAULT_METRICS,
    average_precision,
    bpref,
    evaluate,
    ndcg,
    pair_accuracy,
    parse_metric,
    precision,
    r_precision,
    rank,
    recall,
    reciprocal_rank,
    success,
)

TOL = 1e-6
CUTS = (1, 3, 5, 10, 20, 100)  # 20 and 100 exceed every generated ranking
ALL_METRICS = ["map", "ndcg", "mrr", "r-precision", "bpref"] + [
    f"{family}@{k}" for family in ("map", "ndcg", "mrr", "recall", "p", "success") for k in CUTS
]
_CUT_LIST = ",".join(map(str, CUTS))
TREC_MEASURES = {"map", "ndcg", "recip_rank", "Rprec", "bpref", f"map_cut.{_CUT_LIST}", f"ndcg_cut.{_CUT_LIST}",
                 f"recall.{_CUT_LIST}", f"P.{_CUT_LIST}", f"success.{_CUT_LIST}"}
# trec_eval's own names (pytrec_eval's keys; recip_rank has no cut-off: the whole ranking), and ranx/BEIR
# spellings, each with the name in ALL_METRICS it means.
TREC_SPELLINGS = ["map", "ndcg", "recip_rank", "Rprec", "bpref", "P_10", "ndcg_cut_10", "map_cut_100", "recall_100",
                  "success_10"]
RANX_SPELLINGS = {"NDCG@10": "ndcg@10", "precision@10": "p@10", "P@10": "p@10", "hit_rate@10": "success@10",
                  "Success@10": "success@10", "MRR@10": "mrr@10", "MRR": "mrr", "MAP@100": "map@100", "MAP": "map",
                  "Recall@100": "recall@100", "NDCG": "ndcg", "r-precision": "r-precision",
                  "R-Precision": "r-precision", "BPref": "bpref"}


def trec_name(name: str) -> str:
    """pytrec_eval's key for one of our metric names (mrr@k is handled separately)."""
    family, _, k = name.partition("@")
    if not k:
        return {"map": "map", "ndcg": "ndcg", "mrr": "recip_rank", "r-precision": "Rprec", "bpref": "bpref"}[family]
    return {"map": "map_cut_", "ndcg": "ndcg_cut_", "recall": "recall_", "p": "P_", "success": "success_"}[family] + k


def trec_per_query(run, qrels, relevance_level):
    """pytrec_eval's value of every name in ALL_METRICS, and every key pytrec_eval returns, for each query it
    evaluates."""
    results = pytrec_eval.RelevanceEvaluator(qrels, TREC_MEASURES, relevance_level=relevance_level).evaluate(run)
    cut_results = {}
    for k in CUTS:  # mrr@k = recip_rank of the run cut to its top k (cut in our own order)
        cut_run = {q: {d: scores[d] for d in rank(scores)[:k]} for q, scores in run.items()}
        cut_results[k] = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"},
                                                        relevance_level=relevance_level).evaluate(cut_run)
    reference = {}
    for q, values in results.items():
        reference[q] = dict(values)
        for name in ALL_METRICS:
            family, _, k = name.partition("@")
            if family == "mrr" and k:
                reference[q][name] = cut_results[int(k)][q]["recip_rank"]
            else:
                reference[q][name] = values[trec_name(name)]
    return reference


# Doc ids whose descending byte order differs from numeric order and from case-folded order.
DOC_IDS = ["d1", "d9", "d10", "d100", "a", "b", "B", "Z", "é", "中", "doc-7", "d"]
QUERY_IDS = ["q1", "q2", "q3", "q4", "q5"]
# A small set makes ties common; 0.1 vs 0.1 + 1e-12 and 1.0 vs 1.0 + 1e-9 tie only in float32.
TIE_PRONE = st.sampled_from([0.0, -0.0, 0.1, 0.1 + 1e-12, 0.5, 1.0, 1.0 + 1e-9, -1.0, 2.5, 1e39, 1e40])
SCORES = st.one_of(TIE_PRONE, st.floats(-5, 5, allow_nan=False))
# Every ranking holds a document: trec_eval can crash on an empty one (see the module docstring), so
# that case is a golden test below instead.
RANKINGS = st.dictionaries(st.sampled_from(DOC_IDS), SCORES, min_size=1, max_size=12)
RUNS = st.dictionaries(st.sampled_from(QUERY_IDS), RANKINGS, max_size=5)
# Every non-empty judgment set holds a grade >= 0: trec_eval corrupts its memory on a query judged
# only negatively (see the module docstring), so that case is a golden test below instead.
JUDGMENTS = st.dictionaries(st.sampled_from(DOC_IDS), st.integers(-2, 3), max_size=12).filter(
    lambda judgments: not judgments or max(judgments.values()) >= 0)
QRELS = st.dictionaries(st.sampled_from(QUERY_IDS), JUDGMENTS, max_size=5)
LEVELS = st.sampled_from([1, 2])


def answers_no_judged_query(run, qrels) -> bool:
    """A run sharing no query with the judged ones: an error rather than zeros."""
    judged = [q for q, judgments in qrels.items() if judgments]
    return bool(judged) and not any(q in run for q in judged)


# --------------------------------------------------------------------------- parity with pytrec_eval

def assert_matches(result, reference, keys):
    """``result`` (from evaluate) equals ``reference`` per query and in the mean, for each name given to evaluate
    (a key of ``keys``) against the reference's value under ``keys[name]``; results are keyed by the name as given."""
    assert set(result.per_query) == set(reference)  # the same queries are evaluated
    assert result.num_queries == len(reference)
    for q, values in reference.items():
        assert list(result.per_query[q]) == list(keys)
        for name, key in keys.items():
            assert result.per_query[q][name] == pytest.approx(values[key], abs=TOL), (q, name)
    for name, key in keys.items():
        expected = sum(values[key] for values in reference.values()) / len(reference) if reference else 0.0
        assert result.means[name] == pytest.approx(expected, abs=TOL), name


@settings(max_examples=200, deadline=None)
@given(run=RUNS, qrels=QRELS, relevance_level=LEVELS)
def test_every_metric_matches_pytrec_eval_per_query_and_in_the_mean(run, qrels, relevance_level):
    if answers_no_judged_query(run, qrels):
        with pytest.raises(InputError, match="answers none of the"):
            evaluate(run, qrels, ALL_METRICS, relevance_level=relevance_level)
        return
    reference = trec_per_query(run, qrels, relevance_level)
    result = evaluate(run, qrels, ALL_METRICS, relevance_level=relevance_level)
    assert_matches(result, reference, {name: name for name in ALL_METRICS})


@settings(max_examples=100, deadline=None)
@given(run=RUNS, qrels=QRELS, relevance_level=LEVELS)
def test_trec_eval_names_match_pytrec_eval_under_its_own_keys_and_are_keyed_as_given(run, qrels, relevance_level):
    assume(not answers_no_judged_query(run, qrels))  # an error, pinned by the first parity test
    reference = trec_per_query(run, qrels, relevance_level)  # holds pytrec_eval's own keys: P_10, recip_rank...
    result = evaluate(run, qrels, TREC_SPELLINGS, relevance_level=relevance_level)
    assert_matches(result, reference, {name: name for name in TREC_SPELLINGS})


@settings(max_examples=100, deadline=None)
@given(run=RUNS, qrels=QRELS, relevance_level=LEVELS)
def test_ranx_and_beir_spellings_in_any_case_match_pytrec_eval_and_are_keyed_as_given(run, qrels, relevance_level):
    assume(not answers_no_judged_query(run, qrels))  # an error, pinned by the first parity test
    reference = trec_per_query(run, qrels, relevance_level)
    result = evaluate(run, qrels, list(RANX_SPELLINGS), relevance_level=relevance_level)
    assert_matches(result, reference, RANX_SPELLINGS)


@settings(max_examples=100, deadline=None)
@given(run=RUNS, qrels=QRELS, relevance_level=LEVELS)
def test_complete_scores_every_judged_query_and_missing_ones_as_zero(run, qrels, relevance_level):
    if answers_no_judged_query(run, qrels):
        with pytest.raises(InputError, match="answers none of the"):
            evaluate(run, qrels, ALL_METRICS, relevance_level=relevance_level, complete=True)
        return
    reference = trec_per_query(run, qrels, relevance_level)
    judged = {q for q, judgments in qrels.items() if judgments}
    result = evaluate(run, qrels, ALL_METRICS, relevance_level=relevance_level, complete=True)

    assert set(result.per_query) == judged
    for q in judged:
        for name in ALL_METRICS:
            expected = reference[q][name] if q in run else 0.0
            assert result.per_query[q][name] == pytest.approx(expected, abs=TOL), (q, name)
    for name in ALL_METRICS:
        expected = sum(reference.get(q, {}).get(name, 0.0) for q in judged) / len(judged) if judged else 0.0
        assert result.means[name] == pytest.approx(expected, abs=TOL)


@settings(max_examples=200, deadline=None)
@given(scores=st.dictionaries(st.sampled_from(DOC_IDS), SCORES, min_size=1, max_size=12))
def test_rank_is_trec_eval_order(scores):
    # Judge only the doc we put at position i: trec_eval then finds it at rank i + 1.
    ranking = rank(scores)
    qrels = {f"q{i}": {d: 1} for i, d in enumerate(ranking)}
    run = {q: dict(scores) for q in qrels}
    results = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(run)
    assert sorted(ranking) == sorted(scores)
    for i in range(len(ranking)):
        assert results[f"q{i}"]["recip_rank"] == pytest.approx(1 / (i + 1))


# --------------------------------------------------------------------------- ranking, golden cases

def test_equal_scores_are_broken_by_doc_id_descending_in_byte_order():
    assert rank({"d1": 1.0, "d10": 1.0, "d9": 1.0, "top": 2.0, "last": 0.5}) == ["top", "d9", "d10", "d1", "last"]


def test_scores_equal_in_float32_are_a_tie():
    # In float64 "a" scores higher; in float32 they are equal, so the larger id "b" comes first.
    assert rank({"a": 0.1 + 1e-12, "b": 0.1}) == ["b", "a"]
    assert evaluate({"q": {"a": 0.1 + 1e-12, "b": 0.1}}, {"q": {"a": 1}}, ["mrr"]).means["mrr"] == 0.5


def test_rank_of_no_scores_is_empty():
    assert rank({}) == []


# --------------------------------------------------------------------------- metric definitions, golden cases

def test_map_at_10_divides_by_all_relevant_documents_not_by_k():
    relevant = [f"r{i:02d}" for i in range(20)]
    judgments = {d: 1 for d in relevant}
    ranking = relevant[:10] + [f"n{i:02d}" for i in range(90)]  # perfect top 10, r10..r19 never retrieved
    assert average_precision(ranking, judgments, k=10) == pytest.approx(0.5)
    assert average_precision(ranking, judgments) == pytest.approx(0.5)
    run = {"q": {d: 100.0 - i for i, d in enumerate(ranking)}}
    means = evaluate(run, {"q": judgments}, ["map@10", "map"]).means
    assert means == pytest.approx({"map@10": 0.5, "map": 0.5})


def test_ndcg_uses_the_grade_as_linear_gain_and_an_ideal_from_all_judged_documents():
    judgments = {"a": 1, "c": 3, "d": 2, "e": 2, "x": 0}  # "e" is never retrieved; "b" is unjudged
    ranking = ["a", "b", "c", "d"]
    dcg_at_3 = 1 / 1 + 0 + 3 / 2                            # log2(2) = 1, log2(4) = 2
    ideal_at_3 = 3 / 1 + 2 / math.log2(3) + 2 / 2
    assert ndcg(ranking, judgments, k=3) == pytest.approx(dcg_at_3 / ideal_at_3)
    dcg = dcg_at_3 + 2 / math.log2(5)
    ideal = ideal_at_3 + 1 / math.log2(5)
    assert ndcg(ranking, judgments) == pytest.approx(dcg / ideal)


def test_ndcg_ignores_negative_grades_and_the_relevance_level():
    run = {"q": {"a": 3.0, "b": 2.0, "c": 1.0}}
    qrels = {"q": {"a": -1, "b": 2, "c": 1}}
    expected = (2 / math.log2(3) + 1 / 2) / (2 + 1 / math.log2(3))
    for level in (1, 2):
        assert evaluate(run, qrels, ["ndcg"], relevance_level=level).means["ndcg"] == pytest.approx(expected)


def test_relevance_level_decides_what_is_relevant_for_the_binary_metrics():
    ranking, judgments = ["a", "b", "c"], {"a": 1, "b": 2, "z": 2}
    assert reciprocal_rank(ranking, judgments, relevance_level=1) == 1.0
    assert reciprocal_rank(ranking, judgments, relevance_level=2) == 0.5
    assert recall(ranking, judgments, k=3, relevance_level=2) == 0.5
    assert average_precision(ranking, judgments, relevance_level=3) == 0.0


def test_precision_at_k_divides_by_k_even_when_fewer_were_retrieved():
    assert precision(["a", "b"], {"a": 1}, k=10) == pytest.approx(0.1)


def test_reciprocal_rank_at_k_is_zero_when_the_first_relevant_is_below_k():
    assert reciprocal_rank(["a", "b", "c"], {"c": 1}, k=2) == 0.0
    assert reciprocal_rank(["a", "b", "c"], {"c": 1}) == pytest.approx(1 / 3)


def test_r_precision_looks_at_the_top_r():
    assert r_precision(["a", "x", "b", "c"], {"a": 1, "b": 1, "c": 1}) == pytest.approx(2 / 3)


def test_bpref_counts_judged_non_relevant_documents_above_each_relevant_one():
    # R = 2 (r1, r2), N = 3 judged non-relevant (n1, n2, n3; n3 never retrieved); u is unjudged, m judged -1.
    judgments = {"r1": 1, "r2": 2, "n1": 0, "n2": 0, "n3": 0, "m": -1}
    ranking = ["u", "r1", "n1", "m", "r2", "n2"]
    # r1: no judged non-relevant doc above -> 1; r2: only n1 above -> 1 - min(1, R) / min(N, R) = 1 - 1/2.
    assert bpref(ranking, judgments) == pytest.approx((1 + 0.5) / 2)


def test_bpref_divides_by_the_smaller_of_r_and_the_judged_non_relevant_count():
    # R = 3, N = 1: the one non-relevant doc above r2 and r3 costs each of them 1 - 1/1.
    judgments = {"r1": 1, "r2": 1, "r3": 1, "n1": 0}
    assert bpref(["r1", "n1", "r2", "r3"], judgments) == pytest.approx(1 / 3)
    # R = 1, N = 3: min(n, R) caps the count above r1 at R, however many non-relevant docs precede it.
    assert bpref(["n1", "n2", "n3", "r1"], {"r1": 1, "n1": 0, "n2": 0, "n3": 0}) == 0.0


def test_bpref_at_relevance_level_two_counts_grade_one_as_judged_non_relevant():
    judgments = {"a": 1, "b": 2, "c": 2, "z": 0}
    # R = 2 (b, c), N = 2 (a, z): b has a above it (1 - 1/2), c has a and z (1 - 2/2).
    assert bpref(["a", "b", "z", "c"], judgments, relevance_level=2) == pytest.approx((0.5 + 0) / 2)


def test_success_at_k_is_one_when_a_relevant_document_is_in_the_top_k():
    assert success(["a", "b", "c"], {"c": 1}, k=3) == 1.0
    assert success(["a", "b", "c"], {"c": 1}, k=2) == 0.0
    assert success(["a", "b", "c"], {"b": 1, "c": 2}, k=3, relevance_level=2) == 1.0


def test_every_metric_is_zero_without_relevant_documents():
    judgments = {"a": 0, "b": -1}
    ranking = ["a", "b"]
    for function in (average_precision, ndcg, reciprocal_rank, recall, precision, r_precision, bpref, success):
        assert function(ranking, judgments) == 0.0


# --------------------------------------------------------------------------- which queries are averaged

def test_complete_averages_a_query_missing_from_the_run_as_zero():
    run = {"q1": {"a": 1.0}}
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    assert evaluate(run, qrels, ["map"]).means == {"map": 1.0}
    assert evaluate(run, qrels, ["map"]).num_queries == 1
    complete = evaluate(run, qrels, ["map"], complete=True)
    assert complete.means == {"map": 0.5}
    assert complete.num_queries == 2
    assert complete.per_query["q2"] == {"map": 0.0}


def test_run_queries_without_judgments_are_ignored():
    result = evaluate({"q1": {"a": 1.0}, "extra": {"a": 1.0}}, {"q1": {"a": 1}}, ["map"])
    assert set(result.per_query) == {"q1"}


def test_a_query_judged_all_zero_counts_with_score_zero():
    result = evaluate({"q1": {"a": 1.0}, "q2": {"a": 1.0}}, {"q1": {"a": 1}, "q2": {"a": 0}}, ["map"])
    assert result.num_queries == 2
    assert result.means["map"] == 0.5


def test_a_query_judged_only_negatively_counts_with_score_zero():
    result = evaluate({"q1": {"a": 1.0}, "q2": {"a": 1.0}}, {"q1": {"a": 1}, "q2": {"a": -1, "b": -2}},
                      ["map", "ndcg", "mrr@10"])
    assert result.num_queries == 2
    assert result.per_query["q2"] == {"map": 0.0, "ndcg": 0.0, "mrr@10": 0.0}


def test_a_run_query_with_no_results_counts_as_an_empty_ranking():
    result = evaluate({"q1": {"a": 1.0}, "q2": {}}, {"q1": {"a": 1}, "q2": {"a": 1}}, ["map", "p@10"])
    assert result.num_queries == 2
    assert result.per_query["q2"] == {"map": 0.0, "p@10": 0.0}


@pytest.mark.parametrize("relevance_level", [1, 2])
def test_an_empty_ranking_of_a_judged_query_scores_zero_on_every_metric(relevance_level):
    # The case pytrec_eval cannot take (see the module docstring): q1, first and empty, is judged with
    # relevant, non-relevant and negative grades; q2 retrieves its one relevant document at rank 1.
    run = {"q1": {}, "q2": {"a": 1.0}}
    qrels = {"q1": {"a": 2, "b": 1, "z": 0, "m": -1}, "q2": {"a": 2}}
    result = evaluate(run, qrels, ALL_METRICS, relevance_level=relevance_level)

    assert result.num_queries == 2
    assert result.per_query["q1"] == {name: 0.0 for name in ALL_METRICS}
    for name in ALL_METRICS:  # q2 scores 1, but p@k = 1/k; the mean halves it
        family, _, k = name.partition("@")
        q2 = 1 / int(k) if family == "p" else 1.0
        assert result.means[name] == pytest.approx(q2 / 2, abs=TOL), name


def test_a_qrels_query_with_no_judgments_is_not_evaluated_like_pytrec_eval():
    result = evaluate({"q1": {"a": 1.0}}, {"q1": {}}, ["map"], complete=True)
    assert result.num_queries == 0


def test_no_evaluable_query_gives_zero_means_and_zero_queries():
    result = evaluate({"q1": {"a": 1.0}}, {"q2": {}}, ["map", "ndcg@10"])
    assert result.means == {"map": 0.0, "ndcg@10": 0.0}
    assert result.num_queries == 0
    assert result.per_query == {}


def test_means_are_keyed_by_the_metric_names_as_given():
    result = evaluate({"q": {"a": 1.0}}, {"q": {"a": 1}})
    assert list(result.means) == list(DEFAULT_METRICS)
    assert list(result.per_query["q"]) == list(DEFAULT_METRICS)


# --------------------------------------------------------------------------- metric names

@pytest.mark.parametrize("name", ["foo", "ndcg@0", "ndcg@x", "ndcg@", "recall", "p", "r-precision@5",
                                  "map@-1", "map@1.5", "", "ndcg_10", "map_cut", "P_0", "P_010", "Rprec_5",
                                  "bpref@10", "success", "hit_rate", "success_", "precision_10", "ndcg@10_"])
def test_an_unknown_or_malformed_metric_name_raises_input_error_listing_valid_names(name):
    with pytest.raises(InputError, match="valid metrics: map, map@k, ndcg"):
        parse_metric(name)
    with pytest.raises(InputError):
        evaluate({"q": {"a": 1.0}}, {"q": {"a": 1}}, ["map", name])


def test_metric_names_parse_to_their_function_and_cutoff():
    assert parse_metric("ndcg@10").function is ndcg and parse_metric("ndcg@10").k == 10
    assert parse_metric("map").function is average_precision and parse_metric("map").k is None
    assert parse_metric("p@5").function is precision
    assert parse_metric("r-precision").function is r_precision
    assert parse_metric("bpref").function is bpref and parse_metric("bpref").k is None
    assert parse_metric("success@5").function is success and parse_metric("success@5").k == 5


@pytest.mark.parametrize("name, function, k", [
    ("P_10", precision, 10), ("ndcg_cut_10", ndcg, 10), ("map_cut_100", average_precision, 100),
    ("recall_100", recall, 100), ("success_10", success, 10), ("recip_rank", reciprocal_rank, None),
    ("Rprec", r_precision, None), ("NDCG@10", ndcg, 10), ("precision@10", precision, 10),
    ("hit_rate@10", success, 10), ("MRR@10", reciprocal_rank, 10), ("MAP@100", average_precision, 100),
    ("R-PRECISION", r_precision, None), ("BPREF", bpref, None), ("p_5", precision, 5),
])
def test_trec_eval_and_ranx_names_parse_to_the_same_function_and_cutoff_keeping_the_name(name, function, k):
    metric = parse_metric(name)
    assert (metric.name, metric.function, metric.k) == (name, function, k)


def test_an_unknown_metric_error_lists_every_accepted_form_on_one_line():
    with pytest.raises(InputError) as error:
        parse_metric("ndgc@10")
    message = str(error.value)
    assert "\n" not in message
    for form in ("bpref", "success@k", "map_cut_k", "ndcg_cut_k", "recip_rank", "P_k", "Rprec", "success_k",
                 "precision@k", "hit_rate@k", "any case"):
        assert form in message, form


@pytest.mark.parametrize("level", [0, -1, 1.5, True])
def test_relevance_level_must_be_an_integer_of_at_least_one(level):
    with pytest.raises(InputError, match="relevance level"):
        evaluate({"q": {"a": 1.0}}, {"q": {"a": 1}}, ["map"], relevance_level=level)


# --------------------------------------------------------------------------- pair_accuracy

def brute_force(scores, labels, higher_is_similar):
    """Accuracy and F1 at every candidate threshold, applying the threshold to every pair."""
    distinct = sorted(set(scores))
    candidates = [distinct[0] - 1, distinct[-1] + 1] + [(a + b) / 2 for a, b in zip(distinct, distinct[1:])]
    return [confusion(scores, labels, t, higher_is_similar) for t in candidates]


def confusion(scores, labels, threshold, higher_is_similar):
    """(accuracy, f1, precision, recall) when pairs at or beyond the threshold are predicted similar."""
    predicted = [(s >= threshold) if higher_is_similar else (s <= threshold) for s in scores]
    tp = sum(p and y == 1 for p, y in zip(predicted, labels))
    fp = sum(p and y == 0 for p, y in zip(predicted, labels))
    fn = sum((not p) and y == 1 for p, y in zip(predicted, labels))
    accuracy = sum(p == (y == 1) for p, y in zip(predicted, labels)) / len(labels)
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return accuracy, f1, (tp / (tp + fp) if tp else 0.0), (tp / (tp + fn) if tp else 0.0)


PAIRS = st.lists(st.tuples(st.sampled_from([-1.0, -0.25, 0.0, 0.125, 0.5, 0.75, 1.0, 3.0]), st.integers(0, 1)),
                 min_size=1, max_size=30)


@settings(max_examples=200, deadline=None)
@given(pairs=PAIRS, higher_is_similar=st.booleans())
def test_pair_accuracy_finds_the_best_threshold_of_a_brute_force_sweep(pairs, higher_is_similar):
    scores, labels = [s for s, _ in pairs], [y for _, y in pairs]
    result = pair_accuracy(scores, labels, higher_is_similar)
    sweep = brute_force(scores, labels, higher_is_similar)

    assert result["accuracy"] == pytest.approx(max(acc for acc, *_ in sweep))
    assert result["f1"] == pytest.approx(max(f1 for _, f1, *_ in sweep))
    # the thresholds it reports really give those numbers
    assert confusion(scores, labels, result["accuracy_threshold"], higher_is_similar)[0] == \
        pytest.approx(result["accuracy"])
    assert confusion(scores, labels, result["f1_threshold"], higher_is_similar)[1:] == \
        pytest.approx((result["f1"], result["precision"], result["recall"]))


@settings(max_examples=100, deadline=None)
@given(base=st.floats(-1e6, 1e6, allow_nan=False), labels=st.lists(st.integers(0, 1), min_size=2, max_size=6))
def test_pair_accuracy_thresholds_separate_adjacent_floats(base, labels):
    # Scores one ulp apart have no float strictly between them; the threshold must still split them.
    scores, value = [], base
    for _ in labels:
        scores.append(value)
        value = float(np.nextafter(value, np.inf))
    for higher_is_similar in (True, False):
        result = pair_accuracy(scores, labels, higher_is_similar)
        assert confusion(scores, labels, result["accuracy_threshold"], higher_is_similar)[0] == result["accuracy"]
        assert confusion(scores, labels, result["f1_threshold"], higher_is_similar)[1] == \
            pytest.approx(result["f1"])


def test_pair_accuracy_of_separable_similarities_is_perfect_at_the_midpoint():
    result = pair_accuracy([0.9, 0.8, 0.3, 0.1], [1, 1, 0, 0])
    assert result == pytest.approx({"accuracy": 1.0, "accuracy_threshold": 0.55, "f1": 1.0,
                                    "precision": 1.0, "recall": 1.0, "f1_threshold": 0.55})


def test_pair_accuracy_of_distances_predicts_similar_below_the_threshold():
    result = pair_accuracy([0.1, 0.3, 0.8, 0.9], [1, 1, 0, 0], higher_is_similar=False)
    assert result["accuracy"] == 1.0
    assert result["accuracy_threshold"] == pytest.approx(0.55)


def test_pair_accuracy_never_splits_tied_scores():
    # 0.5 holds one similar and one dissimilar pair: a threshold can only take both or neither.
    result = pair_accuracy([0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0])
    assert result["accuracy"] == 0.75


@pytest.mark.parametrize("scores, labels, problem", [
    ([0.1, 0.2], [1], "2 scores but 1 labels"),
    ([], [], "no pairs"),
    ([0.1, 0.2], [1, 2], "labels must be 0 or 1"),
    ([0.1, 0.2], ["1", "0"], "labels must be 0 or 1"),
    ([0.1, float("nan")], [1, 0], "finite"),
])
def test_pair_accuracy_rejects_bad_input(scores, labels, problem):
    with pytest.raises(InputError, match=problem):
        pair_accuracy(scores, labels)
