"""Evaluation reports: well-formed files, curves that agree with the metrics, distances by hand, bad input."""

import csv
import json
import shutil

import numpy as np
import pytest

from textmetric.errors import InputError
from textmetric.evaluation.metrics import evaluate
from textmetric.evaluation.report import (System, interpolated_precision, pair_distances, recall_curve, training_log_of,
                               write_report)

PNG = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG and len(data) > 1000
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 100 and image.size[1] > 100


def test_recall_curve_agrees_with_recall_at_k():
    qrels = {"q1": {"a": 1, "b": 1, "z": 1}, "q2": {"c": 2, "d": 0}, "q3": {"e": 1}}
    run = {"q1": {"a": 0.9, "x": 0.8, "b": 0.7, "y": 0.6}, "q2": {"d": 0.9, "c": 0.5}, "q3": {"x": 0.3}}
    curve = recall_curve(run, qrels, 5)
    expected = evaluate(run, qrels, [f"recall@{k}" for k in range(1, 6)]).means
    assert curve.tolist() == pytest.approx([expected[f"recall@{k}"] for k in range(1, 6)])


def test_interpolated_precision_by_hand():
    # relevant at ranks 1 and 3 of R = 2: (recall 0.5, precision 1), (recall 1, precision 2/3)
    qrels = {"q": {"a": 1, "b": 1}}
    run = {"q": {"a": 0.9, "x": 0.8, "b": 0.7}}
    assert interpolated_precision(run, qrels, [0.0, 0.5, 0.6, 1.0]).tolist() == pytest.approx([1, 1, 2 / 3, 2 / 3])
    # a query whose relevant document is never retrieved scores 0 at every level
    qrels["p"] = {"c": 1}
    run["p"] = {"x": 1.0}
    assert interpolated_precision(run, qrels, [0.0, 1.0]).tolist() == pytest.approx([0.5, 1 / 3])


def test_pair_distances_are_one_minus_cosine_of_relevant_and_hardest_negatives():
    vectors = {"a": [1.0, 0.0], "b": [0.0, 2.0], "c": [1.0, 1.0], "d": [-1.0, 0.0]}
    qrels = {"q": {"a": 1, "b": 0}}
    run = {"q": {"b": 0.9, "c": 0.8, "a": 0.7, "d": 0.1}}
    result = pair_distances({"q": np.array([3.0, 0.0])}, vectors, lambda ids: np.array([vectors[i] for i in ids]),
                            qrels, run, negatives=2)
    assert result.relevant.tolist() == pytest.approx([0.0])
    assert result.non_relevant.tolist() == pytest.approx([1.0, 1 - 1 / np.sqrt(2)])  # b (judged 0) then c


def _system(name, scale=1.0):
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}, "q3": {"c": 1}}
    run = {"q1": {"a": 0.9 * scale, "b": 0.5}, "q2": {"a": 0.9, "b": 0.5 * scale}, "q3": {"a": 0.8, "c": 0.1}}
    return System(name, evaluate(run, qrels, ["map", "ndcg@10"]), run), qrels


def test_a_report_of_two_systems_holds_both_and_their_comparison(tmp_path):
    first, qrels = _system("before")
    second, _ = _system("after", scale=2.0)
    written = write_report(tmp_path / "r", [first, second], qrels)
    data = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert set(data["systems"]) == {"before", "after"}
    assert data["comparison"]["a"] == "before" and data["comparison"]["num_queries"] == 3
    assert data["comparison"]["metrics"]["map"]["improved"] == 1
    rows = list(csv.reader((tmp_path / "r" / "per_query.csv").open()))
    assert rows[0] == ["query_id", "before:map", "before:ndcg@10", "after:map", "after:ndcg@10"]
    assert [r[0] for r in rows[1:]] == ["q1", "q2", "q3"]
    assert {p.name for p in written} == {"metrics.json", "per_query.csv", "recall_at_k.png", "precision_recall.png"}


@pytest.fixture
def trained_looking_model(tiny_model_path, tmp_path):
    """A copy of the tiny model with a training log, as `textmetric train` leaves one."""
    folder = tmp_path / "tuned"
    shutil.copytree(tiny_model_path, folder)
    log = {"history": [{"step": 1, "loss": 1.2}, {"step": 2, "loss": 0.8, "eval_dev_map": 0.4}],
           "initial_dev": {"dev_map": 0.3}}
    (folder / "training_log.json").write_text(json.dumps(log))
    return folder


def test_evaluate_report_writes_well_formed_files(cli, beir_dir, trained_looking_model, tmp_path):
    report = tmp_path / "report"
    code, out, err = cli("evaluate", "--data", beir_dir, "--model", trained_looking_model, "--report", report,
                         "--json")
    assert code == 0, err
    means = json.loads(out)
    metrics = json.loads((report / "metrics.json").read_text())
    (system,) = metrics["systems"].values()
    assert system["metrics"]["map"] == pytest.approx(means["map"]) and system["num_queries"] == 3
    assert system["distances"]["relevant_pairs"] == 3 and system["distances"]["non_relevant_pairs"] > 0
    rows = list(csv.DictReader((report / "per_query.csv").open()))
    assert len(rows) == means["num_queries"] == 3
    assert set(rows[0]) == {"query_id", "map", "map@100", "ndcg@10", "mrr@10", "recall@100", "p@10"}
    for name in ("distances.png", "recall_at_k.png", "precision_recall.png", "training_curves.png"):
        assert_png(report / name)
    assert "report written to" in err


def test_compare_model_puts_both_models_before_and_after_in_the_report(cli, beir_dir, tiny_model_path,
                                                                       trained_looking_model, tmp_path):
    report = tmp_path / "report"
    code, out, err = cli("evaluate", "--data", beir_dir, "--model", tiny_model_path, "--compare-model",
                         trained_looking_model, "--report", report, "--json", "-q")
    assert code == 0, err
    assert [system["name"] for system in json.loads(out)["systems"]] == ["st", "tuned"]
    metrics = json.loads((report / "metrics.json").read_text())
    assert list(metrics["systems"]) == ["st", "tuned"] and metrics["comparison"]["b"] == "tuned"
    assert metrics["comparison"]["metrics"]["map"]["tied"] == 3  # the same weights: every query ties
    assert_png(report / "distances.png")
    assert_png(report / "training_curves.png")


def test_a_report_of_a_run_file_has_no_distance_plot(cli, tmp_path):
    run = tmp_path / "run.txt"
    run.write_text("q1 Q0 a 1 0.9 t\nq1 Q0 b 2 0.5 t\nq2 Q0 c 1 0.7 t\n")
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\tb\t1\nq2\tc\t1\n")
    code, _, err = cli("evaluate", "--run", run, "--qrels", qrels, "--report", tmp_path / "r")
    assert code == 0, err
    assert not (tmp_path / "r" / "distances.png").exists() and "need a model" in err
    assert_png(tmp_path / "r" / "recall_at_k.png")
    assert len(list(csv.reader((tmp_path / "r" / "per_query.csv").open()))) == 3


def test_a_report_into_a_file_is_a_clear_error_before_any_work(cli, beir_dir, tmp_path, monkeypatch):
    target = tmp_path / "taken"
    target.write_text("mine")
    monkeypatch.setattr("textmetric.encoding.Encoder.load", lambda *a, **k: pytest.fail("encoded first"))
    code, out, err = cli("evaluate", "--data", beir_dir, "--report", target)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert f"{target}: is a file" in err and target.read_text() == "mine"
    first, qrels = _system("x")
    with pytest.raises(InputError, match="is a file"):
        write_report(target, [first], qrels)


def test_training_log_of_a_folder_without_one_is_none(tiny_model_path, trained_looking_model):
    assert training_log_of(tiny_model_path) is None
    assert training_log_of(trained_looking_model)["initial_dev"] == {"dev_map": 0.3}


def test_a_report_through_an_index_takes_the_document_vectors_it_stores(cli, beir_dir, tiny_model_path, tmp_path):
    code, _, err = cli("index", "--corpus", beir_dir, "--output", tmp_path / "idx", "--model", tiny_model_path, "-q")
    assert code == 0, err
    code, _, err = cli("evaluate", "--data", beir_dir, "--index", tmp_path / "idx", "--report", tmp_path / "r", "-q")
    assert code == 0, err
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["systems"]["dense"]["distances"]["relevant_pairs"] == 3
    assert_png(tmp_path / "r" / "distances.png")
