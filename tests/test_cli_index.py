"""`textmetric index / add / delete / compact / search` and `evaluate --index` on the command line."""

import json

import pytest

from conftest import write_jsonl
from textmetric.evaluation.runs import read_run
from textmetric.index import Index


@pytest.fixture
def built(cli, beir_dir, tiny_model_path, tmp_path):
    """An index of the tiny BEIR folder's corpus, built with the tiny model."""
    out = tmp_path / "idx"
    code, _, err = cli("index", "--corpus", beir_dir / "corpus.jsonl", "--output", out, "--model", tiny_model_path,
                       "-q")
    assert code == 0, err
    return out


def test_index_builds_a_folder_that_loads(built):
    assert sorted(p.name for p in built.iterdir()) == ["docs.sqlite", "hnsw.bin", "manifest.json"]
    assert len(Index.load(built)) == 5


def test_index_accepts_a_beir_folder_as_corpus(cli, beir_dir, tiny_model_path, tmp_path):
    code, _, _ = cli("index", "--corpus", beir_dir, "--output", tmp_path / "idx", "--model", tiny_model_path, "-q")
    assert code == 0 and len(Index.load(tmp_path / "idx")) == 5


def test_index_refuses_to_overwrite_without_the_flag(cli, built, beir_dir, tiny_model_path):
    code, _, err = cli("index", "--corpus", beir_dir / "corpus.jsonl", "--output", built, "--model", tiny_model_path)
    assert code == 2 and "--overwrite" in err and err.count("\n") == 1
    code, _, _ = cli("index", "--corpus", beir_dir / "corpus.jsonl", "--output", built, "--model", tiny_model_path,
                     "--overwrite", "-q")
    assert code == 0


def test_index_of_a_corpus_with_duplicate_ids_names_them(cli, tmp_path, tiny_model_path):
    corpus = write_jsonl(tmp_path / "c.jsonl", [{"_id": "a", "text": "x"}, {"_id": "a", "text": "y"}])
    code, _, err = cli("index", "--corpus", corpus, "--output", tmp_path / "idx", "--model", tiny_model_path)
    assert code == 2 and "duplicate document id 'a'" in err and not (tmp_path / "idx").exists()


def test_search_prints_a_ranked_table(cli, built):
    code, out, _ = cli("search", "--index", built, "animals that purr", "-k", "3", "-q")
    lines = out.strip().splitlines()
    assert code == 0 and lines[0] == "query: animals that purr"
    assert [line.split()[0] for line in lines[2:]] == ["1", "2", "3"]


def test_search_json_gives_machine_readable_hits(cli, built):
    code, out, _ = cli("search", "--index", built, "bread", "python", "-k", "2", "--json", "-q")
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["query"] for r in records] == ["bread", "python"]
    assert [h["rank"] for h in records[0]["hits"]] == [1, 2]
    assert {"doc_id", "score", "title"} <= set(records[0]["hits"][0])


def test_search_json_shows_a_score_that_is_not_a_number_as_null(cli, built, monkeypatch):
    def refuse(constant):
        raise AssertionError(f"{constant} in the JSON")

    monkeypatch.setattr("textmetric.search.retriever.Retriever.search",
                        lambda self, queries, k, filter=None: {q: {"d1": float("nan")} for q in queries})
    code, out, err = cli("search", "--index", built, "bread", "--json", "-q")
    assert code == 0, err
    assert json.loads(out, parse_constant=refuse)["hits"][0]["score"] is None


def test_k_beyond_the_corpus_is_clamped(cli, built):
    code, out, _ = cli("search", "--index", built, "anything", "-k", "50", "--json", "-q")
    assert code == 0 and len(json.loads(out)["hits"]) == 5


def test_search_queries_file_writes_a_trec_run(cli, built, beir_dir, tmp_path):
    code, _, _ = cli("search", "--index", built, "--queries", beir_dir / "queries.jsonl", "-k", "3",
                     "--run-out", tmp_path / "run.txt", "-q")
    run = read_run(tmp_path / "run.txt")
    assert code == 0 and set(run) == {"q1", "q2", "q3", "q4"} and all(len(h) == 3 for h in run.values())


def test_search_with_a_different_model_is_refused(cli, built, tmp_path):
    from conftest import build_tiny_model

    other = build_tiny_model(tmp_path / "other", seed=1)
    code, _, err = cli("search", "--index", built, "cats", "--model", other)
    assert code == 2 and "differ from those the index was built with" in err


def test_add_then_delete_then_compact(cli, built, tmp_path):
    extra = write_jsonl(tmp_path / "more.jsonl", [{"_id": "d6", "text": "Owls hunt at night."},
                                                  {"_id": "d1", "title": "Cats", "text": "Cats sleep a lot."}])
    assert cli("add", "--index", built, "--corpus", extra, "-q")[0] == 0
    index = Index.load(built)
    assert len(index) == 6 and index.document("d1").text == "Cats sleep a lot."
    assert cli("delete", "--index", built, "--ids", "d6,d2", "-q")[0] == 0
    assert len(Index.load(built)) == 4
    code, out, _ = cli("search", "--index", built, "owls hunting at night", "-k", "10", "--json", "-q")
    assert {h["doc_id"] for h in json.loads(out)["hits"]} == {"d1", "d3", "d4", "d5"}
    assert cli("compact", "--index", built, "-q")[0] == 0
    compacted = Index.load(built)
    assert len(compacted) == 4 and compacted.element_count == 4


def test_delete_reads_ids_from_a_file_and_warns_about_unknown_ones(cli, built, tmp_path):
    ids = tmp_path / "ids.txt"
    ids.write_text("d1\n\nnope\n")
    code, _, err = cli("delete", "--index", built, "--ids", ids)
    assert code == 0 and "1 id(s) were not in the index (first: 'nope')" in err
    assert "d1" not in Index.load(built)


def test_a_corrupt_index_is_exit_code_2_with_one_line(cli, built):
    (built / "hnsw.bin").write_bytes((built / "hnsw.bin").read_bytes()[:-10])
    code, _, err = cli("search", "--index", built, "cats")
    assert code == 2 and err.count("\n") == 1 and "checksum" in err


def test_a_missing_index_is_exit_code_2(cli, tmp_path):
    code, _, err = cli("search", "--index", tmp_path / "nope", "cats")
    assert code == 2 and "no such index folder" in err


def test_evaluate_through_the_index_matches_exact_search(cli, built, beir_dir, tiny_model_path):
    _, exact, _ = cli("evaluate", "--data", beir_dir, "--model", tiny_model_path, "--json", "-q")
    code, through_index, _ = cli("evaluate", "--data", beir_dir, "--index", built, "--json", "--check-recall", "-q")
    exact, through_index = json.loads(exact), json.loads(through_index)
    assert code == 0 and through_index.pop("hnsw_recall@10") == 1.0
    assert through_index == pytest.approx(exact, abs=1e-6)


def test_check_recall_needs_an_index(cli, beir_dir):
    code, _, err = cli("evaluate", "--data", beir_dir, "--check-recall")
    assert code == 2 and "--index" in err
