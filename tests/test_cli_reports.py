"""What commands report: one documented JSON shape per command, search hits with their text and score kind,
and the tag column of written runs."""

import json

import pytest

from conftest import write_jsonl
from textmetric.evaluation.runs import read_run


@pytest.fixture
def built(cli, beir_dir, tiny_model_path, tmp_path):
    """An index of the tiny BEIR folder with a BM25 side, built with the tiny model."""
    code, _, err = cli("index", "--corpus", beir_dir, "--output", tmp_path / "idx", "--model", tiny_model_path,
                       "--lexical", "-q")
    assert code == 0, err
    return tmp_path / "idx"


def report(cli, *args) -> dict:
    code, out, err = cli(*args, "--json")
    assert code == 0, err
    return json.loads(out)


# -- one JSON shape per command ------------------------------------------------------------------

def test_index_json(cli, beir_dir, tiny_model_path, tmp_path):
    record = report(cli, "index", "--corpus", beir_dir, "--output", tmp_path / "i", "--model", tiny_model_path)
    assert set(record) == {"command", "output", "documents", "dim", "space", "model", "shard", "lexical", "seconds"}
    assert (record["command"], record["documents"], record["dim"], record["shard"]) == ("index", 5, 32, None)


def test_add_delete_compact_and_index_lexical_json(cli, built, tmp_path):
    new = write_jsonl(tmp_path / "new.jsonl", [{"_id": "d6", "text": "owls hunt at night"},
                                               {"_id": "d1", "text": "cats purr"}])
    added = report(cli, "add", "--index", built, "--corpus", new)
    assert added == {"command": "add", "index": str(built), "added": 1, "replaced": 1, "documents": 6,
                     "seconds": added["seconds"]}
    deleted = report(cli, "delete", "--index", built, "--ids", "d6,nope")
    assert {k: v for k, v in deleted.items() if k != "seconds"} == {
        "command": "delete", "index": str(built), "deleted": 1, "not_found": 1, "documents": 5}
    compacted = report(cli, "compact", "--index", built)
    assert set(compacted) == {"command", "index", "vectors_before", "documents", "seconds"}
    assert (compacted["vectors_before"], compacted["documents"]) == (7, 5)
    lexical = report(cli, "index-lexical", "--index", built)
    assert set(lexical) == {"command", "index", "documents", "seconds"} and lexical["documents"] == 5


def test_mine_json(cli, toy_beir, tiny_model_path, tmp_path):
    record = report(cli, "mine", "--data", toy_beir, "--output", tmp_path / "n.jsonl", "--model", tiny_model_path,
                    "--negatives", "2")
    assert set(record) == {"command", "output", "triplets", "queries", "seconds"}
    assert (record["triplets"], record["queries"]) == (52, 26)


def test_train_and_reproject_json(cli, toy_beir, tiny_model_path, built, tmp_path):
    trained = report(cli, "train", "--data", toy_beir, "--output", tmp_path / "m", "--model", tiny_model_path,
                     "--adapter", "linear", "--loss", "triplet", "--epochs", "2", "--batch-size", "8",
                     "--dev-fraction", "0.25")
    assert set(trained) == {"command", "output", "saved", "dev_metric", "dev_before", "dev_after", "improvement",
                            "best_metric", "summary", "interpolation", "fusion", "train_rows", "train_seconds",
                            "precision", "log"}
    assert trained["interpolation"] is None and trained["fusion"] is None  # neither asked for
    assert trained["saved"] in ("best", "start") and trained["dev_metric"] == "dev_ndcg@10"
    assert json.loads((tmp_path / "m" / "training_log.json").read_text())["summary"] == trained["summary"]
    projected = report(cli, "reproject", "--index", built, "--model", tmp_path / "m", "--output", tmp_path / "p")
    assert set(projected) == {"command", "index", "output", "documents", "dim", "space", "seconds"}
    assert (projected["documents"], projected["space"]) == (5, "l2")


def test_evaluate_compare_model_json_is_a_list_of_systems(cli, beir_dir, tiny_model_path):
    record = report(cli, "evaluate", "--data", beir_dir, "--model", tiny_model_path, "--compare-model",
                    tiny_model_path, "--metrics", "map", "-q")
    assert [s["name"] for s in record["systems"]] == ["A: st", "B: st"]
    assert all(set(s) == {"name", "metrics", "num_queries"} and list(s["metrics"]) == ["map"]
               for s in record["systems"])


def test_demo_json_is_what_demo_json_records_plus_the_files(cli, monkeypatch, tmp_path):
    from types import SimpleNamespace

    def fake(config, *, echo, say, progress):
        echo("a table nobody asked for")
        (tmp_path / "w").mkdir()
        (tmp_path / "w" / "demo.json").write_text(json.dumps({"status": "done", "seconds": 1.5, "timings": {}}))
        return SimpleNamespace(files=["demo.json"])

    monkeypatch.setattr("textmetric.demo.run.run_demo", fake)
    assert report(cli, "demo", "--output", tmp_path / "w") == {
        "command": "demo", "output": str(tmp_path / "w"), "files": ["demo.json"], "seconds": 1.5, "timings": {}}


def test_export_demo_data_json(cli, monkeypatch, tmp_path):
    from textmetric.demo.stdlib import Collection

    collection = Collection({}, {}, {"train": {"q1": {}}, "test": {}}, {"train": ["json"], "test": ["csv", "re"]})
    monkeypatch.setattr("textmetric.demo.stdlib.export_stdlib", lambda folder, **kwargs: collection)
    record = report(cli, "export-demo-data", "--output", tmp_path / "out")
    assert {k: v for k, v in record.items() if k != "seconds"} == {
        "command": "export-demo-data", "output": str(tmp_path / "out"), "documents": 0, "train_queries": 1,
        "test_queries": 0, "train_modules": 1, "test_modules": 2}


# -- search ------------------------------------------------------------------------------------------

def test_search_json_hits_carry_the_text_and_the_score_kind(cli, built):
    record = report(cli, "search", "--index", built, "bread", "-k", "5", "-q")
    assert record["score_kind"] == "cosine"
    texts = {hit["doc_id"]: hit["text"] for hit in record["hits"]}
    assert texts["d4"] == "The moon orbits the earth every month."  # a title-less document still has its text


@pytest.mark.parametrize("mode, kind", [("lexical", "bm25"), ("hybrid", "score-fusion")])
def test_search_names_the_score_of_each_mode(cli, built, mode, kind):
    assert report(cli, "search", "--index", built, "bread", "--mode", mode, "-q")["score_kind"] == kind
    code, out, _ = cli("search", "--index", built, "bread", "--mode", mode, "-q")
    assert out.splitlines()[1].split()[:3] == ["rank", "score", f"({kind})"]


def test_search_snippet_cuts_the_text_in_both_outputs(cli, built):
    record = report(cli, "search", "--index", built, "bread", "-k", "5", "--snippet", "20", "-q")
    hit = next(h for h in record["hits"] if h["doc_id"] == "d1")
    assert hit["text"] == "Cats are small..." and len(hit["text"]) <= 20
    code, out, _ = cli("search", "--index", built, "bread", "-k", "5", "--snippet", "20", "-q")
    row = next(line for line in out.splitlines() if " d1 " in line)
    assert row.endswith("Cats: Cats are...")


def test_search_table_shows_title_and_text_under_the_score_kind(cli, built):
    code, out, _ = cli("search", "--index", built, "bread", "-k", "5", "-q")
    lines = out.splitlines()
    assert lines[1].split() == ["rank", "score", "(cosine)", "doc", "id", "title:", "text"]
    assert any(line.endswith("Bread: Bake bread with flour, water and yeast.") for line in lines)


# -- run tags ----------------------------------------------------------------------------------------

def test_run_tag_is_written_to_the_tag_column_of_search_and_evaluate_runs(cli, built, beir_dir, tiny_model_path,
                                                                          tmp_path):
    code, _, err = cli("search", "--index", built, "--queries", beir_dir / "queries.jsonl", "--run-out",
                       tmp_path / "s.run", "--run-tag", "my-system", "-q")
    assert code == 0, err
    code, _, err = cli("evaluate", "--data", beir_dir, "--model", tiny_model_path, "--run-out", tmp_path / "e.run",
                       "--run-tag", "baseline", "-q")
    assert code == 0, err
    for path, tag in ((tmp_path / "s.run", "my-system"), (tmp_path / "e.run", "baseline")):
        assert {line.split()[5] for line in path.read_text().splitlines()} == {tag}
    assert len(read_run(tmp_path / "s.run")) == 4


def test_the_default_run_tag_is_textmetric(cli, built, tmp_path):
    cli("search", "--index", built, "bread", "--run-out", tmp_path / "s.run", "-q")
    assert (tmp_path / "s.run").read_text().split()[5] == "textmetric"


def test_a_run_tag_with_a_space_is_refused_before_any_work(cli, beir_dir, tmp_path):
    code, _, err = cli("evaluate", "--data", beir_dir, "--model", "no-such-model", "--run-out", tmp_path / "e.run",
                       "--run-tag", "two words")
    assert code == 2 and err.count("\n") == 1 and "a run tag is one word without spaces" in err
    assert not (tmp_path / "e.run").exists()
