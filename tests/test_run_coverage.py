"""Judged queries a run lacks: counted in a warning, and a run answering none of them is an error."""

import json

import pytest

from conftest import warning_messages
from textmetric import compare_runs, evaluate
from textmetric.errors import InputError

QRELS = {f"q{i}": {f"d{i}": 1} for i in range(33)}


def test_a_run_covering_one_of_33_judged_queries_warns_with_the_counts(warnings_log):
    result = evaluate({"q0": {"d0": 1.0}}, QRELS, ["map"])
    assert result.num_queries == 1
    assert warning_messages(warnings_log) == [
        "32 of 33 judged queries are missing from the run (first: 'q1'): they are left out of the means "
        "(complete=True scores them 0)"]


def test_complete_scoring_still_counts_the_missing_queries(warnings_log):
    result = evaluate({"q0": {"d0": 1.0}}, QRELS, ["map"], complete=True)
    assert result.num_queries == 33 and result.means["map"] == pytest.approx(1 / 33)
    assert warning_messages(warnings_log) == [
        "32 of 33 judged queries are missing from the run (first: 'q1'): they score 0"]


def test_a_run_that_covers_every_judged_query_warns_of_nothing(warnings_log):
    evaluate({q: {f"d{i}": 1.0} for i, q in enumerate(QRELS)}, QRELS, ["map"])
    assert warning_messages(warnings_log) == []


def test_a_run_sharing_no_query_with_the_qrels_is_an_error():
    with pytest.raises(InputError, match="the run answers none of the 33 judged queries"):
        evaluate({"other-1": {"d0": 1.0}}, QRELS, ["map"])


def test_evaluate_cli_refuses_a_run_of_other_queries_with_exit_2(cli, tmp_path):
    run = tmp_path / "run.txt"
    run.write_text("x1 Q0 d0 1 0.9 t\n")
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}\t1\n" for i in range(33)))
    code, out, err = cli("evaluate", "--run", run, "--qrels", qrels)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "the run answers none of the 33 judged queries (the run has 'x1', the qrels 'q0')" in err


def test_evaluate_cli_warns_in_its_own_words_when_judged_queries_are_missing(cli, tmp_path):
    run = tmp_path / "run.txt"
    run.write_text("q0 Q0 d0 1 0.9 t\n")
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}\t1\n" for i in range(33)))
    code, out, err = cli("evaluate", "--run", run, "--qrels", qrels, "--json")
    assert code == 0 and json.loads(out)["num_queries"] == 1
    assert "warning: 32 of 33 judged queries are missing from the run (first: 'q1')" in err
    assert "(--complete scores them 0)" in err


def test_compare_runs_warns_from_the_api_which_run_lacks_a_query(warnings_log):
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    result = compare_runs({"q1": {"a": 1.0}, "q2": {"b": 1.0}}, {"q1": {"a": 1.0}}, qrels, ["map"])
    assert result.num_queries == 1 and result.only_in_a == ["q2"]
    assert warning_messages(warnings_log) == [
        "1 judged query is only in run A (first: 'q2'): left out of the comparison "
        "(complete=True scores them 0 in the other run)"]


def test_compare_runs_refuses_a_run_answering_no_judged_query():
    with pytest.raises(InputError, match="run B answers none of the 1 judged queries"):
        compare_runs({"q1": {"a": 1.0}}, {"x": {"a": 1.0}}, {"q1": {"a": 1}}, ["map"], complete=True)
