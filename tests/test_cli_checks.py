"""Bad options, outputs and ids on the command line: one line and exit 2, before any expensive work.

Where a check must come before the model loads, the command is given a model that does not exist: the
error it prints is then the check's, or the model would have been loaded first.
"""

import json
import os

import numpy as np
import pytest

from conftest import write_jsonl
from textmetric.data import Document
from textmetric.errors import InputError
from textmetric.index import Index

NO_MODEL = "/no/such/model"
CLEAR_SCREEN = "\x1b[2J\x1b[H"


def one_line_error(result) -> str:
    code, out, err = result
    assert code == 2 and out == "" and err.count("\n") == 1 and "internal error" not in err, (code, out, err)
    assert NO_MODEL not in err, err  # the model was not loaded before the check
    return err


def save_index(folder, ids, texts=None):
    """An index of random vectors that records no model, with a BM25 side (searched with --mode lexical)."""
    rng = np.random.default_rng(0)
    index = Index(8)
    index.add(ids, rng.normal(size=(len(ids), 8)).astype(np.float32),
              [Document(text, "") for text in (texts or [f"text of {i}" for i in ids])])
    index.enable_lexical()
    index.save(folder)
    return folder


# -- numbers ---------------------------------------------------------------------------------------

def test_search_refuses_an_ef_beyond_what_hnswlib_holds(cli, tmp_path):
    folder = save_index(tmp_path / "idx", ["a", "b"])
    err = one_line_error(cli("search", "--index", folder, "text", "--ef", "99999999999999999999"))
    assert "Invalid value for '--ef'" in err


@pytest.mark.parametrize("setting", ["ef", "ef_construction", "m"])
def test_an_hnsw_setting_beyond_what_hnswlib_holds_is_refused_by_the_index(setting):
    with pytest.raises(InputError, match=f"^{setting} must be a whole number from 1 to"):
        Index(8, **{setting: 2 ** 64})


def test_an_ef_beyond_what_hnswlib_holds_is_refused_when_set_or_searched_with(tmp_path):
    index = Index.load(save_index(tmp_path / "idx", ["a", "b"]))
    with pytest.raises(InputError, match="^ef must be a whole number from 1 to 2,147,483,647"):
        index.ef = 10 ** 20
    with pytest.raises(InputError, match="^ef must be a whole number"):
        index.search(np.ones((1, 8), np.float32), 1, ef=10 ** 20)


def test_train_refuses_a_seed_numpy_cannot_take_before_the_model_loads(cli, toy_beir, tmp_path):
    err = one_line_error(cli("train", "--data", toy_beir, "--output", tmp_path / "m", "--seed", 2 ** 32,
                             "--model", NO_MODEL))
    assert "Invalid value for '--seed'" in err


# -- ids and text ----------------------------------------------------------------------------------

def test_search_run_out_refuses_document_ids_with_whitespace_before_any_encoding(cli, tmp_path):
    folder = save_index(tmp_path / "idx", ["a", "doc 1", "doc\t2"])
    err = one_line_error(cli("search", "--index", folder, "text", "--run-out", tmp_path / "run.txt",
                             "--model", NO_MODEL))
    assert "2 document id(s) hold whitespace, which a TREC run file cannot carry (first: 'doc 1')" in err
    assert not (tmp_path / "run.txt").exists()
    code, out, _ = cli("search", "--index", folder, "text", "--mode", "lexical", "--json", "-q")
    assert code == 0 and "doc 1" in out  # without a run file to write, such ids are fine


def test_search_run_out_refuses_query_ids_with_whitespace(cli, tmp_path):
    folder = save_index(tmp_path / "idx", ["a", "b"])
    queries = write_jsonl(tmp_path / "q.jsonl", [{"_id": "q 1", "text": "text"}])
    err = one_line_error(cli("search", "--index", folder, "--queries", queries, "--run-out", tmp_path / "run.txt",
                             "--mode", "lexical"))
    assert "1 query id(s) hold whitespace" in err and "(first: 'q 1')" in err


def test_evaluate_run_out_refuses_corpus_ids_with_whitespace_before_any_encoding(cli, beir_dir, tmp_path):
    corpus = beir_dir / "corpus.jsonl"
    corpus.write_text(corpus.read_text().replace('"d2"', '"d 2"'))
    err = one_line_error(cli("evaluate", "--data", beir_dir, "--run-out", tmp_path / "run.txt", "--model", NO_MODEL,
                             "-q"))  # (the qrels judge 'd2', which is now missing: a warning)
    assert "1 document id(s) hold whitespace" in err and "(first: 'd 2')" in err


def test_a_filter_of_json_nested_too_deeply_is_one_line(cli, tmp_path):
    folder = save_index(tmp_path / "idx", ["a", "b"])
    err = one_line_error(cli("search", "--index", folder, "text", "--mode", "lexical",
                             "--filter", '{"lang": ' + "[" * 5000 + "]" * 5000 + "}"))
    assert "--filter: malformed JSON (nested too deeply to read)" in err


def test_search_with_a_lone_surrogate_in_the_query_is_one_line(cli, tmp_path):
    folder = save_index(tmp_path / "idx", ["a", "b"])
    err = one_line_error(cli("search", "--index", folder, "caf\udce9", "--mode", "lexical"))
    assert "QUERY (id '0'): holds a lone surrogate \\udce9 at character 4" in err


def test_search_shows_control_characters_of_ids_and_texts_escaped_in_its_table(cli, tmp_path):
    folder = save_index(tmp_path / "idx", [f"evil{CLEAR_SCREEN}", "b"], [f"text{CLEAR_SCREEN}", "other"])
    code, out, err = cli("search", "--index", folder, "text", "--mode", "lexical", "-q")
    assert code == 0, err
    assert "\x1b" not in out and "evil\\x1b[2J\\x1b[H" in out and "text\\x1b[2J\\x1b[H" in out
    code, out, _ = cli("search", "--index", folder, "text", "--mode", "lexical", "--json", "-q")
    assert json.loads(out)["hits"][0]["doc_id"] == f"evil{CLEAR_SCREEN}"  # JSON stays exact


# -- outputs ---------------------------------------------------------------------------------------

def test_evaluate_refuses_a_run_out_that_is_a_folder_before_any_encoding(cli, beir_dir, tmp_path):
    (tmp_path / "runs").mkdir()
    err = one_line_error(cli("evaluate", "--data", beir_dir, "--run-out", tmp_path / "runs", "--model", NO_MODEL))
    assert "Invalid value for '--run-out'" in err and "is a folder" in err


def test_evaluate_refuses_a_per_query_file_under_a_file_before_any_encoding(cli, beir_dir, tmp_path):
    (tmp_path / "plain").write_text("")
    err = one_line_error(cli("evaluate", "--data", beir_dir, "--per-query", tmp_path / "plain" / "q.csv",
                             "--model", NO_MODEL))
    assert "Invalid value for '--per-query'" in err and "is not a folder" in err


def test_per_query_into_a_missing_folder_creates_it(cli, tmp_path):
    run, qrels = tmp_path / "run.txt", tmp_path / "qrels.tsv"
    run.write_text("q1 Q0 a 1 0.9 t\n")
    qrels.write_text("q1\ta\t1\n")
    code, _, err = cli("evaluate", "--run", run, "--qrels", qrels, "--per-query", tmp_path / "new" / "q.csv")
    assert code == 0, err
    assert (tmp_path / "new" / "q.csv").read_text().startswith("query_id,")


def test_mine_refuses_an_output_that_is_a_folder_before_any_encoding(cli, beir_dir, tmp_path):
    err = one_line_error(cli("mine", "--data", beir_dir, "--split", "test", "--output", tmp_path,
                             "--model", NO_MODEL))
    assert "Invalid value for '--output'" in err and "is a folder" in err


def test_index_overwrite_refuses_an_output_that_is_a_file_before_any_encoding(cli, beir_dir, tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    err = one_line_error(cli("index", "--corpus", beir_dir, "--output", target, "--overwrite", "--model", NO_MODEL))
    assert "exists and is not a folder" in err and target.read_text() == "mine"


def test_build_index_refuses_an_output_that_is_a_file_before_any_encoding(tiny_model, beir_dir, tmp_path,
                                                                          monkeypatch):
    from textmetric.index.building import build_index

    monkeypatch.setattr("textmetric.index.building.encode_chunks", lambda *a, **k: pytest.fail("encoded"))
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="exists and is not a folder"):
        build_index(tiny_model, beir_dir, tmp_path / "notes.txt")


@pytest.mark.parametrize("command", [["index", "--corpus", "CORPUS", "--model", NO_MODEL],
                                     ["index", "--corpus", "CORPUS", "--model", NO_MODEL, "--overwrite"],
                                     ["train", "--data", "CORPUS", "--model", NO_MODEL],
                                     ["export-demo-data"]])
def test_a_folder_output_that_is_the_current_folder_is_refused_before_any_work(cli, beir_dir, tmp_path, monkeypatch,
                                                                               command):
    monkeypatch.setattr("textmetric.demo.stdlib.stdlib_collection", lambda *a, **k: pytest.fail("built"))
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    args = [str(beir_dir) if arg == "CORPUS" else arg for arg in command]
    err = one_line_error(cli(*args, "--output", "."))
    assert "is the current folder, or holds it" in err
    assert os.listdir(here) == []


def test_export_demo_data_to_the_current_folder_by_its_old_spelling_is_one_line(cli, tmp_path, monkeypatch):
    monkeypatch.setattr("textmetric.demo.stdlib.stdlib_collection", lambda *a, **k: pytest.fail("built"))
    monkeypatch.chdir(tmp_path)
    err = cli("export-demo-data", ".")[2]
    assert "is the current folder, or holds it" in err and "internal error" not in err


# -- delete ----------------------------------------------------------------------------------------

def test_delete_with_a_list_too_long_to_be_a_file_name_deletes_what_it_names(cli, tmp_path):
    folder = save_index(tmp_path / "idx", ["a", "b", "c"])
    ids = ",".join(["b"] + [f"missing{i}" for i in range(3000)])
    code, out, err = cli("delete", "--index", folder, "--ids", ids, "--json")
    assert code == 0, err
    assert json.loads(out)["deleted"] == 1 and json.loads(out)["not_found"] == 3000
    assert Index.load(folder).ids == ["a", "c"]


def test_delete_with_only_unknown_ids_changes_nothing_and_says_so(cli, tmp_path):
    folder = save_index(tmp_path / "idx", ["a", "b"])
    before = os.stat(folder).st_ino, (folder / "manifest.json").read_bytes()
    code, out, err = cli("delete", "--index", folder, "--ids", ",".join(f"x{i}" for i in range(3000)), "--json")
    assert code == 0 and "none of the 3000 id(s) is in the index (first: 'x0'): nothing was deleted" in err
    assert json.loads(out)["deleted"] == 0 and json.loads(out)["documents"] == 2
    assert (os.stat(folder).st_ino, (folder / "manifest.json").read_bytes()) == before  # not even saved again


def test_delete_with_a_mistyped_file_name_says_it_is_neither_a_file_nor_an_id(cli, tmp_path):
    folder = save_index(tmp_path / "idx", ["a", "b"])
    err = one_line_error(cli("delete", "--index", folder, "--ids", tmp_path / "idz.txt"))
    assert f"{tmp_path / 'idz.txt'}: no such file, and no such id in the index" in err
    assert Index.load(folder).ids == ["a", "b"]


def test_evaluate_refuses_a_report_folder_under_a_file_before_any_encoding(cli, beir_dir, tmp_path):
    (tmp_path / "plain").write_text("")
    err = one_line_error(cli("evaluate", "--data", beir_dir, "--report", tmp_path / "plain" / "report",
                             "--model", NO_MODEL))
    assert "plain is not a folder" in err


def test_the_demo_refuses_an_output_under_a_file_before_any_work(cli, tmp_path, monkeypatch):
    monkeypatch.setattr("textmetric.demo.stdlib.stdlib_collection", lambda *a, **k: pytest.fail("built"))
    (tmp_path / "plain").write_text("")
    err = one_line_error(cli("demo", "--output", tmp_path / "plain" / "demo", "--model", NO_MODEL))
    assert "plain is not a folder" in err


def test_a_run_tag_with_a_lone_surrogate_is_refused_before_any_work(cli, tmp_path):
    folder = save_index(tmp_path / "idx", ["a", "b"])
    err = one_line_error(cli("search", "--index", folder, "text", "--run-out", tmp_path / "run.txt",
                             "--run-tag", "tag\udcff", "--mode", "lexical"))
    assert "lone surrogate" in err and not (tmp_path / "run.txt").exists()
