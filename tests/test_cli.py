"""The command line: output, exit codes and one-line errors."""

import json
import subprocess
import sys

import pytest


@pytest.fixture
def run_and_qrels(tmp_path):
    run = tmp_path / "run.txt"
    run.write_text("q1 Q0 a 1 0.9 t\nq1 Q0 b 2 0.5 t\nq2 Q0 c 1 0.7 t\nq2 Q0 a 2 0.6 t\n")
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\tb\t1\nq2\tc\t2\nq3\ta\t1\n")
    return run, qrels


def test_evaluate_prints_a_table_of_the_default_metrics(cli, run_and_qrels):
    code, out, _ = cli("evaluate", "--run", run_and_qrels[0], "--qrels", run_and_qrels[1])
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == [
        "map", "map@100", "ndcg@10", "mrr@10", "recall@100", "p@10", "queries"]
    assert out.splitlines()[0].split()[1] == "0.7500"  # AP 0.5 and 1.0


def test_evaluate_json_keys_are_the_metric_names(cli, run_and_qrels):
    code, out, _ = cli("evaluate", "--run", run_and_qrels[0], "--qrels", run_and_qrels[1],
                              "--metrics", "map,ndcg@10,p@1", "--json")
    assert code == 0
    assert json.loads(out) == {"map": 0.75, "ndcg@10": pytest.approx((1 / 1.5849625 + 1) / 2),
                               "p@1": 0.5, "num_queries": 2}


def test_complete_averages_missing_queries_as_zero(cli, run_and_qrels):
    _, out, _ = cli("evaluate", "--run", run_and_qrels[0], "--qrels", run_and_qrels[1],
                           "--metrics", "map", "--complete", "--json")
    assert json.loads(out) == {"map": 0.5, "num_queries": 3}


def test_per_query_file_is_written(cli, run_and_qrels, tmp_path):
    code, _, _ = cli("evaluate", "--run", run_and_qrels[0], "--qrels", run_and_qrels[1],
                            "--metrics", "map", "--per-query", tmp_path / "pq.csv", "--quiet")
    assert code == 0
    assert (tmp_path / "pq.csv").read_text().splitlines() == ["query_id,map", "q1,0.5", "q2,1.0"]


def test_bad_input_is_one_line_on_stderr_and_exit_code_2(cli, run_and_qrels, tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("query-id\tcorpus-id\tscore\nq1\tb\thigh\n")
    code, out, err = cli("evaluate", "--run", run_and_qrels[0], "--qrels", bad)
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert f"{bad}:2" in err and "grade 'high' is not an integer" in err


def test_an_unknown_metric_is_a_usage_error_before_any_work(cli, run_and_qrels):
    code, _, err = cli("evaluate", "--run", run_and_qrels[0], "--qrels", run_and_qrels[1],
                              "--metrics", "map,ndgc@10")
    assert code == 2 and err.count("\n") == 1 and "ndgc@10" in err


TREC_AND_RANX_NAMES = ["P_10", "NDCG@10", "recip_rank", "hit_rate@1", "Rprec", "bpref"]


def test_evaluate_prints_trec_eval_and_ranx_names_as_given_in_the_table_json_and_per_query_file(
        cli, run_and_qrels, tmp_path):
    args = ("evaluate", "--run", run_and_qrels[0], "--qrels", run_and_qrels[1],
            "--metrics", ",".join(TREC_AND_RANX_NAMES), "--quiet")
    code, out, err = cli(*args, "--per-query", tmp_path / "pq.csv")
    assert code == 0, err
    assert [line.split()[0] for line in out.splitlines()] == [*TREC_AND_RANX_NAMES, "queries"]
    assert (tmp_path / "pq.csv").read_text().splitlines()[0] == "query_id," + ",".join(TREC_AND_RANX_NAMES)
    code, out, _ = cli(*args, "--json")
    # q1 ranks its relevant b 2nd (a unjudged above it), q2 ranks c 1st
    assert json.loads(out) == {"P_10": 0.1, "NDCG@10": pytest.approx((1 / 1.5849625 + 1) / 2),
                               "recip_rank": 0.75, "hit_rate@1": 0.5, "Rprec": 0.5, "bpref": 1.0,
                               "num_queries": 2}


def test_an_unknown_metric_error_lists_the_accepted_forms(cli, run_and_qrels):
    code, _, err = cli("evaluate", "--run", run_and_qrels[0], "--qrels", run_and_qrels[1], "--metrics", "P@ten")
    assert code == 2 and err.count("\n") == 1
    assert "'P@ten'" in err and "P_k" in err and "hit_rate@k" in err and "bpref" in err


def test_missing_options_are_a_one_line_usage_error(cli):
    code, _, err = cli("evaluate")
    assert code == 2 and err.count("\n") == 1 and "--data" in err


def test_an_unknown_option_is_a_one_line_usage_error(cli):
    code, _, err = cli("evaluate", "--frobnicate")
    assert code == 2 and err.count("\n") == 1 and "--frobnicate" in err


def test_evaluate_a_beir_folder_with_a_model_folder(cli, tiny_model_path, beir_dir, tmp_path):
    code, out, err = cli("evaluate", "--data", beir_dir, "--model", tiny_model_path, "--json",
                                "--run-out", tmp_path / "run.txt", "--quiet")
    assert code == 0 and err == ""
    result = json.loads(out)
    assert result["num_queries"] == 3 and 0 <= result["map"] <= 1
    assert len((tmp_path / "run.txt").read_text().splitlines()) == 3 * 5


def test_evaluate_separate_corpus_queries_and_qrels_files(cli, tiny_model_path, beir_dir):
    code, out, _ = cli("evaluate", "--corpus", beir_dir / "corpus.jsonl",
                              "--queries", beir_dir / "queries.jsonl", "--qrels", beir_dir / "qrels" / "test.tsv",
                              "--model", tiny_model_path, "--json", "-q")
    assert code == 0 and json.loads(out)["num_queries"] == 3


def test_a_missing_model_is_exit_code_2(cli, beir_dir):
    code, _, err = cli("evaluate", "--data", beir_dir, "--model", "no-such/model")
    assert code == 2 and err.count("\n") == 1 and "never downloads" in err


def test_warnings_go_to_stderr_and_quiet_silences_them(cli, tiny_model_path, beir_dir):
    with open(beir_dir / "qrels" / "test.tsv", "a") as f:
        f.write("q1\tghost\t1\n")
    _, _, err = cli("evaluate", "--data", beir_dir, "--model", tiny_model_path)
    assert "warning:" in err and "1 judged document id(s) are not in the corpus" in err
    _, _, err = cli("evaluate", "--data", beir_dir, "--model", tiny_model_path, "--quiet")
    assert err == ""


def test_an_unexpected_failure_is_exit_code_1_without_a_traceback(cli, monkeypatch, run_and_qrels):
    from textmetric.evaluation import systems as systems_module

    def broken(*args, **kwargs):
        raise RuntimeError("something odd")

    monkeypatch.setattr(systems_module, "evaluate", broken)
    code, _, err = cli("evaluate", "--run", run_and_qrels[0], "--qrels", run_and_qrels[1])
    assert code == 1 and err.count("\n") == 1 and "internal error: RuntimeError: something odd" in err


def test_the_console_script_runs_as_a_module(run_and_qrels):
    proc = subprocess.run([sys.executable, "-m", "textmetric", "evaluate", "--run", str(run_and_qrels[0]),
                           "--qrels", str(run_and_qrels[1]), "--json"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and json.loads(proc.stdout)["num_queries"] == 2


def test_pair_accuracy_of_a_model_on_labelled_pairs(cli, tiny_model_path, tmp_path):
    from conftest import write_jsonl

    pairs = write_jsonl(tmp_path / "pairs.jsonl", [
        {"text_a": "a cat", "text_b": "a cat", "label": 1},
        {"text_a": "the dog", "text_b": "the dog", "label": 1},
        {"text_a": "a cat", "text_b": "stock market crash in asia", "label": 0},
    ])
    code, out, _ = cli("evaluate", "--pairs", pairs, "--model", tiny_model_path, "--json", "-q")
    result = json.loads(out)
    assert code == 0 and result["num_pairs"] == 3 and result["accuracy"] == 1.0  # identical texts: similarity 1


def test_pairs_with_a_bad_label_name_the_line(cli, tmp_path):
    from conftest import write_jsonl

    pairs = write_jsonl(tmp_path / "pairs.jsonl", [{"text_a": "a", "text_b": "b", "label": 1},
                                                   {"text_a": "a", "text_b": "c", "label": 2}])
    code, _, err = cli("evaluate", "--pairs", pairs)
    assert code == 2 and f"{pairs}:2: field 'label': label 2 must be 0 or 1" in err


def test_a_bad_pairs_file_fails_before_the_model_loads(cli, tmp_path, monkeypatch):
    from conftest import write_jsonl

    pairs = write_jsonl(tmp_path / "pairs.jsonl", [{"text_a": "a", "text_b": "b", "label": 3}])
    monkeypatch.setattr("textmetric.encoding.Encoder.load", lambda *a, **k: pytest.fail("the model loaded first"))
    code, _, err = cli("evaluate", "--pairs", pairs)
    assert code == 2 and f"{pairs}:1: field 'label'" in err
