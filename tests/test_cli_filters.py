"""`--filter` on `textmetric search` and `evaluate`, and the fields in `search --json`."""

import json

import pytest

from conftest import write_jsonl
from textmetric.evaluation.runs import read_run

CORPUS = [
    {"_id": "d1", "title": "Cats", "text": "Cats are small furry animals that purr.", "lang": "en", "year": 2001},
    {"_id": "d2", "title": "Dogs", "text": "Dogs bark and love to fetch sticks.", "lang": "de", "year": 2010},
    {"_id": "d3", "title": "Python", "text": "Python is a programming language.", "lang": "en", "year": 2020},
    {"_id": "d4", "title": "", "text": "The moon orbits the earth every month.", "metadata": {"lang": "fr"}},
    {"_id": "d5", "title": "Bread", "text": "Bake bread with flour, water and yeast.", "lang": "en", "year": 1999},
]


@pytest.fixture
def fielded(cli, beir_dir, tiny_model_path, tmp_path):
    """The tiny BEIR folder, its corpus with fields, and an index of it (with a BM25 side)."""
    write_jsonl(beir_dir / "corpus.jsonl", CORPUS)
    out = tmp_path / "idx"
    code, _, err = cli("index", "--corpus", beir_dir, "--output", out, "--model", tiny_model_path, "--lexical", "-q")
    assert code == 0, err
    return beir_dir, out


def hit_ids(out):
    return [[h["doc_id"] for h in json.loads(line)["hits"]] for line in out.splitlines()]


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_search_filter_keeps_only_matching_documents(cli, fielded, mode):
    _, index = fielded
    code, out, err = cli("search", "--index", index, "animals bread python", "-k", "5", "--mode", mode, "--json",
                         "--filter", "lang=en", "--filter", "year>=2000", "-q")
    assert code == 0, err
    assert set(hit_ids(out)[0]) <= {"d1", "d3"} and hit_ids(out)[0]


def test_search_json_hits_carry_their_fields(cli, fielded):
    _, index = fielded
    code, out, _ = cli("search", "--index", index, "moon", "-k", "5", "--json", "-q")
    fields = {h["doc_id"]: h["fields"] for h in json.loads(out)["hits"]}
    assert code == 0 and fields["d4"] == {"lang": "fr"} and fields["d2"] == {"lang": "de", "year": 2010}


def test_search_filter_as_a_json_object(cli, fielded):
    _, index = fielded
    code, out, _ = cli("search", "--index", index, "anything", "-k", "5", "--json", "-q",
                       "--filter", '{"lang": {"$in": ["de", "fr"]}}')
    assert code == 0 and sorted(hit_ids(out)[0]) == ["d2", "d4"]


def test_a_filter_matching_nothing_gives_no_hits_and_no_error(cli, fielded):
    _, index = fielded
    code, out, _ = cli("search", "--index", index, "anything", "--json", "-q", "--filter", "lang=es")
    assert code == 0 and json.loads(out)["hits"] == []


@pytest.mark.parametrize("flag, message", [
    ("country=en", "filter: unknown field 'country' (the documents' fields: 'lang', 'year')"),
    ("year=recent", "filter on 'year': the field holds numbers, not strings (\"recent\")"),
    ("lang", "--filter takes FIELD=VALUE"),
    ('{"lang": {"$like": "e"}}', "unknown operator \"$like\""),
])
def test_a_bad_filter_is_a_one_line_error_with_exit_status_2(cli, fielded, flag, message):
    _, index = fielded
    code, out, err = cli("search", "--index", index, "cats", "--filter", flag)
    assert code == 2 and message in err and err.count("\n") == 1 and out == ""


def test_evaluate_an_index_with_a_filter(cli, fielded, tmp_path):
    beir, index = fielded
    code, _, err = cli("evaluate", "--data", beir, "--index", index, "--filter", "lang=en", "--run-out",
                       tmp_path / "run.txt", "-q")
    assert code == 0, err
    run = read_run(tmp_path / "run.txt")
    assert run and all(set(docs) <= {"d1", "d3", "d5"} for docs in run.values())


def test_evaluate_by_exact_search_with_a_filter(cli, fielded, tiny_model_path, tmp_path):
    beir, _ = fielded
    code, _, err = cli("evaluate", "--data", beir, "--model", tiny_model_path, "--filter", "year<2005",
                       "--run-out", tmp_path / "run.txt", "-q")
    assert code == 0, err
    assert all(set(docs) <= {"d1", "d5"} for docs in read_run(tmp_path / "run.txt").values())


def test_evaluate_by_exact_search_refuses_an_unknown_field(cli, fielded, tiny_model_path):
    beir, _ = fielded
    code, _, err = cli("evaluate", "--data", beir, "--model", tiny_model_path, "--filter", "country=en")
    assert code == 2 and "unknown field 'country'" in err


def test_evaluate_refuses_a_filter_on_an_existing_run(cli, fielded, tmp_path):
    beir, _ = fielded
    (tmp_path / "run.txt").write_text("q1 Q0 d1 1 1.0 x\n", encoding="utf-8")
    code, _, err = cli("evaluate", "--run", tmp_path / "run.txt", "--qrels", beir / "qrels" / "test.tsv",
                       "--filter", "lang=en")
    assert code == 2 and "--filter restricts a search" in err
