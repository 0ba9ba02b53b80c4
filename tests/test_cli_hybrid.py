"""`textmetric index --lexical`, `index-lexical`, and `--mode` on `search` and `evaluate` on the command line."""

import json
import shutil

import pytest

from conftest import write_jsonl
from textmetric.index import Index


@pytest.fixture
def built(cli, beir_dir, tiny_model_path, tmp_path):
    """An index of the tiny BEIR folder's corpus with its lexical side, built with the tiny model."""
    out = tmp_path / "idx"
    code, _, err = cli("index", "--corpus", beir_dir, "--output", out, "--model", tiny_model_path, "--lexical", "-q")
    assert code == 0, err
    return out


def hit_ids(out):
    return [[h["doc_id"] for h in json.loads(line)["hits"]] for line in out.splitlines()]


def test_index_lexical_writes_the_bm25_side_into_the_folder(built):
    assert (built / "lexical" / "ids.json").exists()
    assert Index.load(built).lexical_settings.stemmer == "english"


def test_index_records_the_tokenisation_options(cli, beir_dir, tiny_model_path, tmp_path):
    code, _, _ = cli("index", "--corpus", beir_dir, "--output", tmp_path / "idx", "--model", tiny_model_path,
                     "--lexical", "--stemmer", "none", "--stopwords", "none", "-q")
    settings = json.loads((tmp_path / "idx" / "manifest.json").read_text())["lexical"]["settings"]
    assert code == 0 and settings["stemmer"] is None and settings["stopwords"] == []


def test_search_lexical_ranks_by_bm25(cli, built):
    code, out, _ = cli("search", "--index", built, "--mode", "lexical", "baking bread", "purring cats", "--json",
                       "-q")
    assert code == 0 and hit_ids(out) == [["d5"], ["d1"]]


def test_lexical_search_needs_no_model(cli, beir_dir, tiny_model_path, tmp_path):
    model = shutil.copytree(tiny_model_path, tmp_path / "model")
    cli("index", "--corpus", beir_dir, "--output", tmp_path / "idx", "--model", model, "--lexical", "-q")
    shutil.rmtree(model)
    code, out, err = cli("search", "--index", tmp_path / "idx", "--mode", "lexical", "bread", "--json", "-q")
    assert code == 0, err
    assert hit_ids(out) == [["d5"]]


def test_search_hybrid_fuses_both_sides(cli, built):
    for fusion in ("rrf", "score"):
        code, out, err = cli("search", "--index", built, "--mode", "hybrid", "--fusion", fusion, "--depth", "2",
                             "bake bread", "-k", "10", "--json", "-q")
        [hits] = hit_ids(out)
        assert code == 0, err
        assert "d5" in hits and 1 <= len(hits) <= 3


def test_lexical_search_of_an_index_without_the_side_names_the_fix(cli, beir_dir, tiny_model_path, tmp_path):
    cli("index", "--corpus", beir_dir, "--output", tmp_path / "idx", "--model", tiny_model_path, "-q")
    code, _, err = cli("search", "--index", tmp_path / "idx", "--mode", "lexical", "bread")
    assert code == 2 and "index-lexical" in err and err.count("\n") == 1


def test_index_lexical_adds_the_side_to_an_existing_index(cli, beir_dir, tiny_model_path, tmp_path):
    cli("index", "--corpus", beir_dir, "--output", tmp_path / "idx", "--model", tiny_model_path, "-q")
    assert cli("index-lexical", "--index", tmp_path / "idx", "-q")[0] == 0
    code, out, _ = cli("search", "--index", tmp_path / "idx", "--mode", "lexical", "bread", "--json", "-q")
    assert code == 0 and hit_ids(out) == [["d5"]]


def test_add_and_delete_keep_the_lexical_side_in_step(cli, built, tmp_path):
    extra = write_jsonl(tmp_path / "more.jsonl", [{"_id": "d6", "text": "Owls hunt at night."}])
    assert cli("add", "--index", built, "--corpus", extra, "-q")[0] == 0
    _, out, _ = cli("search", "--index", built, "--mode", "lexical", "owls", "--json", "-q")
    assert hit_ids(out) == [["d6"]]
    assert cli("delete", "--index", built, "--ids", "d6,d5", "-q")[0] == 0
    assert cli("compact", "--index", built, "-q")[0] == 0
    for mode in ("lexical", "hybrid"):
        _, out, _ = cli("search", "--index", built, "--mode", mode, "owls bread", "-k", "10", "--json", "-q")
        assert not {"d5", "d6"} & set(hit_ids(out)[0])


def test_evaluate_mode_all_prints_one_column_per_mode(cli, built, beir_dir):
    code, out, err = cli("evaluate", "--data", beir_dir, "--index", built, "--mode", "all", "-q")
    lines = out.splitlines()
    assert code == 0, err
    assert lines[0].split() == ["metric", "dense", "lexical", "hybrid"]
    assert lines[-1].split() == ["queries", "3", "3", "3"] and len(lines[1].split()) == 4


def test_evaluate_mode_all_json_is_a_list_of_systems_each_with_its_metrics(cli, built, beir_dir):
    code, out, _ = cli("evaluate", "--data", beir_dir, "--index", built, "--mode", "all", "--json", "-q")
    systems = json.loads(out)["systems"]
    assert code == 0 and [s["name"] for s in systems] == ["dense", "lexical", "hybrid"]
    lexical = systems[1]
    assert lexical["num_queries"] == 3 and lexical["metrics"]["ndcg@10"] == pytest.approx(1.0)


def test_evaluate_one_mode_matches_its_column_of_mode_all(cli, built, beir_dir):
    _, single, _ = cli("evaluate", "--data", beir_dir, "--index", built, "--mode", "hybrid", "--fusion", "score",
                       "--json", "-q")
    _, every, _ = cli("evaluate", "--data", beir_dir, "--index", built, "--mode", "all", "--fusion", "score",
                      "--json", "-q")
    hybrid = next(s for s in json.loads(every)["systems"] if s["name"] == "hybrid")
    assert json.loads(single) == {**hybrid["metrics"], "num_queries": hybrid["num_queries"]}


def test_evaluate_lexical_without_an_index_is_a_usage_error(cli, beir_dir):
    code, _, err = cli("evaluate", "--data", beir_dir, "--mode", "lexical")
    assert code == 2 and "--index" in err


def test_evaluate_mode_all_refuses_a_single_run_file(cli, built, beir_dir, tmp_path):
    code, _, err = cli("evaluate", "--data", beir_dir, "--index", built, "--mode", "all", "--run-out",
                       tmp_path / "run.txt")
    assert code == 2 and "--run-out" in err
