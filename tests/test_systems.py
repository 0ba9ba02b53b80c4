"""Evaluating systems: a retriever scored end to end, and several systems scored side by side."""

import json

import pytest

from conftest import warning_messages
from textmetric.data import load_beir
from textmetric.encoding import DEFAULT_MODEL
from textmetric.errors import InputError
from textmetric.evaluation.formatting import format_modes_table, format_table
from textmetric.evaluation.metrics import evaluate
from textmetric.evaluation.systems import (RECALL_CHECK, SystemRun, evaluate_retriever, evaluate_systems,
                                           exact_search, model_labels, search_index)
from textmetric.index import ExactIndex
from textmetric.index.building import build_index
from textmetric.index.lexical import LexicalSettings
from textmetric.search.retriever import MODES, Retriever

QRELS = {"q1": {"a": 1}, "q2": {"b": 1}}
RUN_A = {"q1": {"a": 0.9, "x": 0.5}, "q2": {"x": 0.9, "b": 0.8}}
RUN_B = {"q1": {"x": 0.9, "a": 0.5}, "q2": {"b": 0.9}}


def test_evaluating_a_retriever_scores_its_own_run(tiny_model, beir_dir):
    data = load_beir(beir_dir, "test")
    retriever = Retriever(tiny_model, ExactIndex.build(tiny_model, data.corpus))
    result, run = evaluate_retriever(retriever, data.queries, data.qrels, k=3)
    assert result.means == evaluate(run, data.qrels).means
    assert result.num_queries == 3 and all(len(hits) == 3 for hits in run.values())


def test_each_system_is_scored_as_evaluate_scores_its_run():
    result = evaluate_systems([SystemRun("a", RUN_A), SystemRun("b", RUN_B)], QRELS, ["map", "p@1"],
                              relevance_level=1, complete=True)
    for name, run in (("a", RUN_A), ("b", RUN_B)):
        expected = evaluate(run, QRELS, ["map", "p@1"], complete=True)
        assert result.evaluations[name].means == expected.means
        assert result.evaluations[name].per_query == expected.per_query


def test_one_system_prints_its_means_and_several_print_side_by_side():
    one = evaluate_systems([SystemRun("a", RUN_A, extra={"hnsw_recall@10": 0.5})], QRELS, ["map"])
    assert one.as_dict() == {"map": 0.75, "hnsw_recall@10": 0.5, "num_queries": 2}
    assert one.table() == format_table({"map": 0.75, "hnsw_recall@10": 0.5}, 2)
    two = evaluate_systems([SystemRun("a", RUN_A), SystemRun("b", RUN_B)], QRELS, ["map"])
    assert json.loads(two.to_json()) == {"systems": [{"name": "a", "metrics": {"map": 0.75}, "num_queries": 2},
                                                     {"name": "b", "metrics": {"map": 0.75}, "num_queries": 2}]}
    assert two.table() == format_modes_table({"a": {"map": 0.75}, "b": {"map": 0.75}}, 2)


def test_systems_need_names_that_differ():
    with pytest.raises(InputError, match="system names must differ, got a, a"):
        evaluate_systems([SystemRun("a", RUN_A), SystemRun("a", RUN_B)], QRELS)
    with pytest.raises(InputError, match="no system"):
        evaluate_systems([], QRELS)


def test_models_are_named_for_their_folder_and_told_apart_when_the_names_match():
    assert model_labels(None) == [DEFAULT_MODEL]
    assert model_labels("runs/base", "runs/tuned") == ["base", "tuned"]
    assert model_labels("a/model", "b/model") == ["A: model", "B: model"]


def test_exact_search_is_named_for_its_model_and_keeps_what_a_report_needs(tiny_model, tiny_model_path, beir_dir):
    data = load_beir(beir_dir, "test")
    system = exact_search(tiny_model, data, model_path=tiny_model_path, k=2)
    assert system.name == tiny_model_path.name and system.model_path == tiny_model_path
    assert system.model is tiny_model and len(system.index) == len(data.corpus)
    assert set(system.run) == set(data.queries) and all(len(hits) == 2 for hits in system.run.values())


@pytest.fixture
def lexical_index(tiny_model, beir_dir, tmp_path):
    data = load_beir(beir_dir, "test")
    return build_index(tiny_model, data.corpus, tmp_path / "idx", model_name="tiny", lexical=LexicalSettings())


def test_every_mode_searches_with_one_encoding_of_the_queries(tiny_model, beir_dir, lexical_index, monkeypatch):
    from textmetric.encoding import Encoder

    data = load_beir(beir_dir, "test")
    calls = []
    real = Encoder.encode
    monkeypatch.setattr(Encoder, "encode",
                        lambda self, texts, **kw: calls.append(len(texts)) or real(self, texts, **kw))
    systems = search_index(lexical_index, tiny_model, data, MODES, k=3, check_recall=True)
    assert calls == [len(data.queries)]
    assert [s.name for s in systems] == list(MODES)
    for s in systems:
        assert s.run == Retriever(tiny_model, lexical_index, mode=s.name).search(data.queries, k=3)


def test_the_dense_system_carries_the_model_its_folder_and_the_recall_check(tiny_model, beir_dir, lexical_index):
    data = load_beir(beir_dir, "test")
    dense, lexical, hybrid = search_index(lexical_index, tiny_model, data, MODES, check_recall=True)
    assert dense.model is tiny_model and dense.index is lexical_index and dense.model_path == "tiny"
    assert set(dense.extra) == {RECALL_CHECK}
    for other in (lexical, hybrid):
        assert other.model is None and other.index is None and other.model_path is None and not other.extra
    (only,) = search_index(lexical_index, None, data, ("lexical",))
    assert only.model is None and only.model_path == "tiny"


def test_an_index_lacking_corpus_documents_is_warned_of(beir_dir, lexical_index, warnings_log):
    data = load_beir(beir_dir, "test")
    data.corpus["extra"] = data.corpus["d1"]
    search_index(lexical_index, None, data, ("lexical",), source="idx")
    assert warning_messages(warnings_log) == ["1 corpus document(s) are not in the index idx"]


def test_a_report_has_distances_for_the_systems_with_a_model_and_an_index(tiny_model, beir_dir, tmp_path):
    data = load_beir(beir_dir, "test")
    searched = exact_search(tiny_model, data, name="model")
    result = evaluate_systems([searched, SystemRun("file", searched.run)], data.qrels)
    written = result.write_report(tmp_path / "report", data.queries)
    assert "distances.png" in {p.name for p in written}
    systems = json.loads((tmp_path / "report" / "metrics.json").read_text())["systems"]
    assert "distances" in systems["model"] and "distances" not in systems["file"]
    assert "comparison" in json.loads((tmp_path / "report" / "metrics.json").read_text())
    bare = evaluate_systems([SystemRun("file", searched.run)], data.qrels).write_report(tmp_path / "bare")
    assert "distances.png" not in {p.name for p in bare}
