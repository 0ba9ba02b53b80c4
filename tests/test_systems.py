"""Evaluating systems: a retriever scored end to end."""

from textmetric.data import load_beir
from textmetric.evaluation.metrics import evaluate
from textmetric.evaluation.systems import evaluate_retriever
from textmetric.index import ExactIndex
from textmetric.search.retriever import Retriever


def test_evaluating_a_retriever_scores_its_own_run(tiny_model, beir_dir):
    data = load_beir(beir_dir, "test")
    retriever = Retriever(tiny_model, ExactIndex.build(tiny_model, data.corpus))
    result, run = evaluate_retriever(retriever, data.queries, data.qrels, k=3)
    assert result.means == evaluate(run, data.qrels).means
    assert result.num_queries == 3 and all(len(hits) == 3 for hits in run.values())
