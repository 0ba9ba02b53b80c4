"""TREC run files in and out, and the per-query CSV."""

import numpy as np
import pytest

from textmetric.errors import InputError
from textmetric.evaluation.metrics import evaluate
from textmetric.evaluation.runs import check_run_ids, read_run, write_per_query, write_run


def test_run_files_round_trip_float32_scores_exactly(tmp_path):
    rng = np.random.default_rng(1)
    run = {f"q{q}": {f"d{d}": float(np.float32(rng.normal())) for d in range(20)} for q in range(5)}
    write_run(run, tmp_path / "run.txt")
    assert read_run(tmp_path / "run.txt") == run


def test_run_files_keep_float64_scores_exactly(tmp_path):
    run = {"q": {"a": 0.1, "b": 1 / 3, "c": 1e-300}}
    write_run(run, tmp_path / "run.txt")
    assert read_run(tmp_path / "run.txt") == run


def test_written_runs_list_each_query_in_trec_eval_order(tmp_path):
    write_run({"q": {"d1": 0.5, "d10": 0.5, "d9": 0.5, "top": 0.9}}, tmp_path / "run.txt", tag="mine")
    lines = (tmp_path / "run.txt").read_text().splitlines()
    assert lines == ["q Q0 top 1 0.9 mine", "q Q0 d9 2 0.5 mine", "q Q0 d10 3 0.5 mine", "q Q0 d1 4 0.5 mine"]


def test_a_doc_listed_twice_for_a_query_is_an_error(tmp_path):
    path = tmp_path / "run.txt"
    path.write_text("q Q0 a 1 0.9 t\nq Q0 a 2 0.8 t\n")
    with pytest.raises(InputError, match=r"run.txt:2: document 'a' listed twice for query 'q'"):
        read_run(path)


def test_a_run_line_with_missing_fields_is_an_error(tmp_path):
    path = tmp_path / "run.txt"
    path.write_text("q Q0 a 1 0.9 t\nq Q0 b 2\n")
    with pytest.raises(InputError, match=r"run.txt:2: expected 6 fields"):
        read_run(path)


def test_a_run_score_that_is_not_a_number_is_an_error(tmp_path):
    path = tmp_path / "run.txt"
    path.write_text("q Q0 a 1 high t\n")
    with pytest.raises(InputError, match=r"run.txt:1: field 'score': score 'high' is not a number"):
        read_run(path)


@pytest.mark.parametrize("score", ["1_0", "\u0661\u0662", "\uff11", "inf", "nan", "-Infinity", "0x1p3", "1e",
                                   ".", "+-1", "1.5e3.2"])
def test_a_run_score_in_any_form_but_plain_decimal_or_exponent_is_an_error(tmp_path, score):
    path = tmp_path / "run.txt"
    path.write_text(f"q Q0 a 1 0.5 t\nq Q0 b 2 {score} t\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_run(path)
    assert f"run.txt:2: field 'score': score '{score}' is not a number in decimal" in str(info.value)


@pytest.mark.parametrize("score, value", [("10", 10.0), ("-0.5", -0.5), (".5", 0.5), ("5.", 5.0), ("+3", 3.0),
                                          ("1e-05", 1e-05), ("1.5E+20", 1.5e20)])
def test_a_run_score_in_plain_decimal_or_exponent_form_is_read(tmp_path, score, value):
    path = tmp_path / "run.txt"
    path.write_text(f"q Q0 a 1 {score} t\n")
    assert read_run(path) == {"q": {"a": value}}


@pytest.mark.parametrize("run, kind", [({"q 1": {"a": 1.0}}, "query"), ({"q": {"a\tb": 1.0}}, "document"),
                                       ({"q": {"a\nb": 1.0}}, "document"), ({"q": {"a\u00a0b": 1.0}}, "document")])
def test_an_id_with_whitespace_is_refused_before_a_run_file_is_written(tmp_path, run, kind):
    with pytest.raises(InputError, match=f"1 {kind} id\\(s\\) hold whitespace, which a TREC run file cannot carry"):
        write_run(run, tmp_path / "run.txt")
    assert not (tmp_path / "run.txt").exists()


def test_the_id_check_names_the_first_bad_id_escaped_on_one_line():
    with pytest.raises(InputError) as info:
        check_run_ids(["ok", "two\nlines", "a b"], "document")
    assert "2 document id(s)" in str(info.value) and "(first: 'two\\nlines')" in str(info.value)
    assert "\n" not in str(info.value)


def test_a_score_that_is_not_finite_is_never_written(tmp_path):
    with pytest.raises(InputError, match="score nan is not a finite number"):
        write_run({"q": {"a": 1.0, "b": float("nan")}}, tmp_path / "run.txt")
    assert not (tmp_path / "run.txt").exists()


def test_an_empty_run_file_is_an_error(tmp_path):
    path = tmp_path / "run.txt"
    path.write_text("")
    with pytest.raises(InputError, match="empty file"):
        read_run(path)


def test_a_failed_write_leaves_the_previous_file_untouched(tmp_path):
    path = tmp_path / "run.txt"
    write_run({"q": {"a": 1.0}}, path)
    before = path.read_bytes()

    class Boom(dict):
        def items(self):
            yield "q", {"b": 2.0}
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_run(Boom(), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["run.txt"]  # no temporary file left behind


def test_per_query_csv_has_one_row_per_query(tmp_path):
    result = evaluate({"q1": {"a": 1.0}, "q2": {"b": 1.0}}, {"q1": {"a": 1}, "q2": {"a": 1}}, ["map", "p@1"])
    write_per_query(result, tmp_path / "pq.csv")
    assert (tmp_path / "pq.csv").read_text().splitlines() == ["query_id,map,p@1", "q1,1.0,1.0", "q2,0.0,0.0"]


def test_a_written_run_file_has_the_permissions_of_a_plain_file(tmp_path):
    import os
    import stat

    mask = os.umask(0o022)
    try:
        write_run({"q": {"a": 1.0}}, tmp_path / "run.txt")
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "run.txt").stat().st_mode) == 0o644  # not mkstemp's owner-only 0600


def test_a_run_is_read_in_trec_eval_order_whatever_the_files_order(tmp_path):
    path = tmp_path / "run.txt"
    path.write_text("q Q0 d1 1 0.5 t\nq Q0 low 2 0.1 t\nq Q0 d9 3 0.5 t\nq Q0 top 4 0.9 t\n")
    assert list(read_run(path)["q"]) == ["top", "d9", "d1", "low"]
