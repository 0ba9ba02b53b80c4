"""Specification of the input forms beyond files: Hugging Face ``datasets`` (a ``Dataset``, a
``save_to_disk`` folder, an ``.arrow`` file), BEIR folders and dicts, for corpus, queries, qrels and
training examples -- in Python and on the command line -- with the file loaders' column rules and errors.

Rows of a dataset are numbered from 1 as parquet rows are: ``<dataset> (row N): field 'text': ...``.
"""

from __future__ import annotations

import json
import socket
from contextlib import contextmanager
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.feather
import pytest

from conftest import write_jsonl
from textmetric.data import (Document, load_corpus, load_examples, load_qrels, load_queries, number_queries)
from textmetric.errors import InputError
from textmetric.training.config import TrainConfig
from textmetric.training.trainer import fine_tune
from textmetric.training.training_set import prepare_training_set

DOCS = [{"_id": "d1", "title": "Cats", "text": "Cats purr."},
        {"_id": "d2", "title": "", "text": "Dogs bark."},
        {"_id": "d3", "title": "Bread", "text": "Bake it."}]
CORPUS = {"d1": Document("Cats purr.", "Cats"), "d2": Document("Dogs bark."), "d3": Document("Bake it.", "Bread")}
QUERIES = [{"_id": "q1", "text": "what purrs"}, {"_id": "q2", "text": "baking"}]
QRELS = {"query-id": ["q1", "q2", "q2"], "corpus-id": ["d1", "d3", "d2"], "score": [1, 2, 0]}


def rows_dataset(rows: list[dict]) -> datasets.Dataset:
    return datasets.Dataset.from_list(rows)


@contextmanager
def no_progress_bars():
    """Writing test data draws no bar, so that what the CLI prints can be checked to the byte."""
    was_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            datasets.enable_progress_bars()


def saved(dataset: datasets.Dataset | datasets.DatasetDict, folder: Path) -> Path:
    with no_progress_bars():
        dataset.save_to_disk(str(folder))
    return folder


def parquet(columns: dict[str, list], path: Path) -> Path:
    with no_progress_bars():
        datasets.Dataset.from_dict(columns).to_parquet(str(path))
    return path


def arrow_file(dataset: datasets.Dataset, folder: Path) -> Path:
    """The .arrow file a ``save_to_disk`` folder holds (the stream format ``datasets`` writes)."""
    saved(dataset, folder)
    [path] = folder.glob("*.arrow")
    return path


def one_line_error(call, *args, **kwargs) -> str:
    with pytest.raises(InputError) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


# -- corpus ------------------------------------------------------------------------------------------

def test_a_dataset_is_read_as_a_corpus_like_its_jsonl_file(tmp_path):
    assert load_corpus(rows_dataset(DOCS)) == load_corpus(write_jsonl(tmp_path / "c.jsonl", DOCS)) == CORPUS


def test_a_save_to_disk_folder_is_read_as_a_corpus(tmp_path):
    assert load_corpus(saved(rows_dataset(DOCS), tmp_path / "saved")) == CORPUS


def test_the_arrow_file_datasets_writes_is_read_as_a_corpus(tmp_path):
    assert load_corpus(arrow_file(rows_dataset(DOCS), tmp_path / "saved")) == CORPUS


def test_an_arrow_ipc_file_is_read_as_a_corpus(tmp_path):
    path = tmp_path / "c.arrow"
    pyarrow.feather.write_feather(pa.Table.from_pylist(DOCS), path)
    assert load_corpus(path) == CORPUS


def test_a_dataset_in_another_format_and_order_is_read_row_by_row(tmp_path):
    dataset = rows_dataset(DOCS).select([2, 0, 1]).with_format("numpy")
    assert list(load_corpus(dataset)) == ["d3", "d1", "d2"]


def test_integer_ids_of_a_dataset_become_strings():
    corpus = load_corpus(rows_dataset([{"id": 7, "text": "seven"}, {"id": 8, "text": "eight"}]))
    assert corpus == {"7": Document("seven"), "8": Document("eight")}


def test_a_beir_dict_is_a_corpus():
    beir = {"d1": {"title": "Cats", "text": "Cats purr."}, "d2": {"text": "Dogs bark."}}
    assert load_corpus(beir) == {"d1": Document("Cats purr.", "Cats"), "d2": Document("Dogs bark.")}


def test_a_dict_of_texts_or_documents_is_a_corpus():
    assert load_corpus({"d1": "Cats purr.", "d2": Document("Dogs bark.", "Dogs")}) == {
        "d1": Document("Cats purr."), "d2": Document("Dogs bark.", "Dogs")}


def test_a_beir_folder_is_a_corpus_in_python_as_on_the_command_line(beir_dir):
    assert load_corpus(beir_dir) == load_corpus(beir_dir / "corpus.jsonl")


def test_a_missing_text_in_a_dataset_names_its_row():
    dataset = rows_dataset([{"_id": "a", "text": "x"}, {"_id": "b", "text": None}])
    assert one_line_error(load_corpus, dataset) == "<dataset> (row 2): field 'text': missing text"


def test_a_missing_text_column_in_a_dataset_is_the_first_rows_error():
    dataset = rows_dataset([{"_id": "a", "body": "x"}])
    assert one_line_error(load_corpus, dataset) == "<dataset> (row 1): field 'text': missing text"


def test_a_duplicate_id_in_a_saved_dataset_names_the_folder_and_both_rows(tmp_path):
    folder = saved(rows_dataset([{"_id": "a", "text": "x"}, {"_id": "a", "text": "y"}]), tmp_path / "saved")
    assert one_line_error(load_corpus, folder) == f"{folder} (row 2): duplicate document id 'a' (first on row 1)"


def test_an_empty_dataset_is_an_error():
    empty = datasets.Dataset.from_dict({"_id": [], "text": []})
    assert one_line_error(load_corpus, empty) == "<dataset>: empty dataset: no documents"


def test_a_dataset_dict_needs_one_split():
    splits = datasets.DatasetDict({"corpus": rows_dataset(DOCS)})
    assert one_line_error(load_corpus, splits) == (
        "<dataset>: a DatasetDict of splits (corpus): give one split, e.g. dataset['corpus']")


def test_a_saved_dataset_dict_folder_names_its_splits_and_the_folder_to_give(tmp_path):
    folder = saved(datasets.DatasetDict({"train": rows_dataset(DOCS), "test": rows_dataset(DOCS)}), tmp_path / "dd")
    assert one_line_error(load_corpus, folder) == (
        f"{folder}: a DatasetDict of splits (train, test): give one split, e.g. {folder / 'train'}")


def test_a_folder_that_is_neither_beir_nor_a_saved_dataset_says_what_a_folder_may_be(tmp_path):
    assert one_line_error(load_corpus, tmp_path) == (
        f"{tmp_path}: is a folder, but neither a BEIR folder (corpus.jsonl) nor a `datasets` save_to_disk folder "
        f"(dataset_info.json and state.json)")


def test_a_damaged_arrow_file_is_an_error(tmp_path):
    path = tmp_path / "c.arrow"
    path.write_bytes(b"not arrow at all")
    assert one_line_error(load_corpus, path).startswith(f"{path}: not a readable Arrow file (")


def test_a_damaged_save_to_disk_folder_is_an_error(tmp_path):
    folder = saved(rows_dataset(DOCS), tmp_path / "saved")
    for shard in folder.glob("*.arrow"):
        shard.write_bytes(b"garbage")
    assert one_line_error(load_corpus, folder).startswith(f"{folder}: not a readable `datasets` save_to_disk folder (")


def test_a_dict_value_that_is_no_document_names_its_id():
    assert one_line_error(load_corpus, {"d1": 3}) == (
        "<dict> (id 'd1'): expected a Document, a dict with 'text' (and 'title') or a string, got int")


def test_a_beir_dict_entry_without_text_names_its_id():
    assert one_line_error(load_corpus, {"d1": {"title": "Cats"}}) == "<dict> (id 'd1'): field 'text': missing text"


def test_dict_ids_that_are_equal_as_strings_are_duplicates():
    assert one_line_error(load_corpus, {1: "a", "1": "b"}) == "<dict> (id '1'): duplicate document id '1'"


def test_an_object_that_is_no_corpus_form_lists_the_forms():
    message = one_line_error(load_corpus, 42)
    assert message.startswith("cannot read a corpus from an object of type int (give a corpus file, a BEIR folder")


def test_reading_saved_datasets_and_arrow_files_opens_no_connection(tmp_path, monkeypatch):
    folder = saved(rows_dataset(DOCS), tmp_path / "saved")
    stream = arrow_file(rows_dataset(DOCS), tmp_path / "other")

    def refuse(*args, **kwargs):
        raise AssertionError("a loader tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert load_corpus(folder) == load_corpus(stream) == CORPUS


# -- every function that takes a corpus takes every form ------------------------------------------

def test_exact_search_builds_over_a_beir_dict_and_a_dataset_as_over_documents(tiny_model):
    from textmetric.index import ExactIndex

    reference = ExactIndex.build(tiny_model, CORPUS)
    beir = {d["_id"]: {"title": d["title"], "text": d["text"]} for d in DOCS}
    for form in (beir, rows_dataset(DOCS)):
        index = ExactIndex.build(tiny_model, form)
        assert index.ids == reference.ids
        np.testing.assert_allclose(index.embeddings(index.ids), reference.embeddings(reference.ids), atol=1e-6)


def test_build_index_takes_a_dataset_and_keeps_its_titles(tiny_model, tmp_path):
    from textmetric.index.building import build_index

    index = build_index(tiny_model, rows_dataset(DOCS), tmp_path / "idx")
    assert len(index) == 3 and index.document("d1").title == "Cats"


def test_add_documents_takes_a_beir_dict(tiny_model, tmp_path):
    from textmetric.index.building import add_documents, build_index

    index = build_index(tiny_model, CORPUS, tmp_path / "idx")
    assert add_documents(index, tiny_model, {"d4": {"title": "Moon", "text": "It orbits."}}) == (1, 0)
    assert index.document("d4").title == "Moon"


# -- queries -----------------------------------------------------------------------------------------

def test_a_dataset_a_saved_folder_and_an_arrow_file_are_read_as_queries(tmp_path):
    expected = {"q1": "what purrs", "q2": "baking"}
    assert load_queries(rows_dataset(QUERIES)) == expected
    assert load_queries(saved(rows_dataset(QUERIES), tmp_path / "saved")) == expected
    assert load_queries(arrow_file(rows_dataset(QUERIES), tmp_path / "other")) == expected


def test_a_dict_of_texts_is_queries():
    assert load_queries({"q1": "what purrs", 2: "baking"}) == {"q1": "what purrs", "2": "baking"}


def test_a_list_of_queries_is_numbered_from_zero():
    assert load_queries(["what purrs", "baking"]) == number_queries(["what purrs", "baking"]) == {
        "0": "what purrs", "1": "baking"}


def test_a_list_item_that_is_no_text_names_its_position():
    assert one_line_error(load_queries, ["fine", 3]) == "<list> (id '1'): expected the query text, got int"


def test_a_dict_query_that_is_no_text_names_its_id():
    assert one_line_error(load_queries, {"q1": ["a"]}) == "<dict> (id 'q1'): expected the query text, got list"


def test_a_saved_dataset_dict_of_queries_names_its_splits(tmp_path):
    folder = saved(datasets.DatasetDict({"queries": rows_dataset(QUERIES)}), tmp_path / "dd")
    assert "a DatasetDict of splits (queries): give one split" in one_line_error(load_queries, folder)


# -- qrels -------------------------------------------------------------------------------------------

EXPECTED_QRELS = {"q1": {"d1": 1}, "q2": {"d3": 2, "d2": 0}}


def test_parquet_qrels_with_the_beir_columns_are_read(tmp_path):
    path = tmp_path / "qrels.parquet"
    parquet(QRELS, path)
    assert load_qrels(path) == EXPECTED_QRELS


def test_jsonl_qrels_with_the_trec_columns_are_read(tmp_path):
    path = write_jsonl(tmp_path / "qrels.jsonl", [{"qid": q, "docid": d, "rel": r} for q, d, r in
                                                  zip(QRELS["query-id"], QRELS["corpus-id"], QRELS["score"])])
    assert load_qrels(path) == EXPECTED_QRELS


def test_csv_qrels_with_a_header_are_read(tmp_path):
    path = tmp_path / "qrels.csv"
    path.write_text("query-id,corpus-id,score\nq1,d1,1\nq2,d3,2\nq2,d2,0\n", encoding="utf-8")
    assert load_qrels(path) == EXPECTED_QRELS


def test_qrels_from_a_dataset_a_saved_folder_and_an_arrow_file(tmp_path):
    dataset = datasets.Dataset.from_dict(QRELS)
    assert load_qrels(dataset) == EXPECTED_QRELS
    assert load_qrels(saved(dataset, tmp_path / "saved")) == EXPECTED_QRELS
    assert load_qrels(arrow_file(dataset, tmp_path / "other")) == EXPECTED_QRELS


def test_integer_query_ids_and_integral_float_grades_are_read_as_the_hub_stores_them():
    dataset = datasets.Dataset.from_dict({"query-id": [1, 2], "corpus-id": [10, 20], "score": [1.0, 2.0]})
    assert load_qrels(dataset) == {"1": {"10": 1}, "2": {"20": 2}}


def test_a_qrels_dict_is_checked_and_returned():
    assert load_qrels(EXPECTED_QRELS) == EXPECTED_QRELS
    assert one_line_error(load_qrels, {"q1": {"d1": 0.5}}) == (
        "<dict> (query 'q1', document 'd1'): grade 0.5 is not an integer")


def test_a_fractional_grade_in_jsonl_qrels_names_its_line(tmp_path):
    path = write_jsonl(tmp_path / "qrels.jsonl", [{"query-id": "q1", "corpus-id": "d1", "score": 1},
                                                  {"query-id": "q1", "corpus-id": "d2", "score": 1.5}])
    assert one_line_error(load_qrels, path) == f"{path}:2: field 'score': grade 1.5 is not an integer"


def test_a_document_judged_twice_in_parquet_qrels_names_both_rows(tmp_path):
    path = tmp_path / "qrels.parquet"
    parquet({"query-id": ["q1", "q1"], "corpus-id": ["d1", "d1"], "score": [1, 0]}, path)
    assert one_line_error(load_qrels, path) == (
        f"{path} (row 2): document 'd1' judged twice for query 'q1' (first on row 1)")


def test_qrels_records_with_other_columns_name_the_columns_they_need(tmp_path):
    path = write_jsonl(tmp_path / "qrels.jsonl", [{"q": "q1", "d": "d1", "s": 1}])
    assert one_line_error(load_qrels, path) == (
        f"{path}:1: columns q, d, s are not qrels columns (expected query-id, corpus-id, score or qid, docid, rel)")


def test_empty_parquet_qrels_are_an_error(tmp_path):
    path = tmp_path / "qrels.parquet"
    parquet({"query-id": [], "corpus-id": [], "score": []}, path)
    assert one_line_error(load_qrels, path) == f"{path}: empty file: no judgments"


def test_a_binary_qrels_file_of_unknown_suffix_says_which_formats_qrels_take(tmp_path):
    path = tmp_path / "qrels.bin"
    parquet(QRELS, path)
    message = one_line_error(load_qrels, path)
    assert message.startswith(f"{path}:") and "not valid UTF-8" in message
    assert message.endswith("qrels files are text (BEIR tsv, TREC) or, by their suffix, .jsonl, .json, .ndjson, "
                            ".csv, .parquet, .pq, .arrow")


def test_a_qrels_folder_must_be_a_saved_dataset(tmp_path):
    assert one_line_error(load_qrels, tmp_path) == (
        f"{tmp_path}: is a folder, but not a `datasets` save_to_disk folder (dataset_info.json and state.json)")


# -- training examples -------------------------------------------------------------------------------

TRIPLETS = [{"anchor": f"query {w}", "positive": f"text about {w}", "negative": f"text about {v}"}
            for w, v in zip("red green blue pink gray gold teal navy".split(),
                            "gold teal navy red green blue pink gray".split())]


def test_examples_from_a_dataset_a_saved_folder_an_arrow_file_and_a_dict_match_the_file(tmp_path):
    expected = load_examples(write_jsonl(tmp_path / "t.jsonl", TRIPLETS))
    columns = {c: [row[c] for row in TRIPLETS] for c in TRIPLETS[0]}
    forms = [rows_dataset(TRIPLETS), saved(rows_dataset(TRIPLETS), tmp_path / "saved"),
             arrow_file(rows_dataset(TRIPLETS), tmp_path / "other"), columns]
    for form in forms:
        assert load_examples(form) == expected


def test_a_bad_label_in_a_dataset_names_its_row():
    dataset = rows_dataset([{"text_a": "a", "text_b": "b", "label": 1}, {"text_a": "a", "text_b": "c", "label": 2}])
    assert one_line_error(load_examples, dataset) == (
        "<dataset> (row 2): field 'label': label 2 must be 0 or 1 (1 = similar)")


def test_a_dict_of_columns_of_different_lengths_is_an_error():
    assert one_line_error(load_examples, {"query": ["a", "b"], "positive": ["c"]}) == (
        "<dict>: columns differ in length (query: 2, positive: 1)")


def test_a_dict_column_that_is_no_list_is_an_error():
    assert one_line_error(load_examples, {"query": "a", "positive": ["c"]}) == (
        "<dict>: field 'query': expected a list of values, got str")


def test_training_rows_from_a_dataset_equal_those_from_the_file(tmp_path):
    config = TrainConfig(loss="triplet", dev_fraction=0.25)
    from_file = prepare_training_set(write_jsonl(tmp_path / "t.jsonl", TRIPLETS), config)
    from_dataset = prepare_training_set(rows_dataset(TRIPLETS), config)
    assert (from_dataset.columns, from_dataset.rows, from_dataset.dev_qrels) == \
        (from_file.columns, from_file.rows, from_file.dev_qrels)


def test_a_saved_dataset_folder_is_training_examples_not_a_beir_folder(tmp_path):
    training = prepare_training_set(saved(rows_dataset(TRIPLETS), tmp_path / "saved"),
                                    TrainConfig(loss="triplet", dev_fraction=0.25))
    assert training.columns == ("anchor", "positive", "negative") and len(training.rows) == 6


def test_a_saved_dataset_dict_folder_as_training_data_names_its_splits(tmp_path):
    folder = saved(datasets.DatasetDict({"train": rows_dataset(TRIPLETS)}), tmp_path / "dd")
    assert one_line_error(prepare_training_set, folder, TrainConfig(loss="triplet")) == (
        f"{folder}: a DatasetDict of splits (train): give one split, e.g. {folder / 'train'}")


def test_mined_negatives_with_a_dataset_name_the_dataset(tmp_path):
    message = one_line_error(prepare_training_set, rows_dataset(TRIPLETS),
                             TrainConfig(loss="triplet", hard_negatives=str(tmp_path / "negatives.jsonl")))
    assert message.startswith("<dataset>: mined negatives (hard_negatives=PATH) go with a BEIR folder")


def test_fine_tune_trains_on_a_dataset_and_logs_its_name(tmp_path, tiny_model_path):
    log = fine_tune(rows_dataset(TRIPLETS), tmp_path / "m", model_name=tiny_model_path,
                    config=TrainConfig(loss="triplet", epochs=1, batch_size=4, dev_fraction=0.25))
    assert log["train_rows"] == 6 and log["source"] == "<dataset>"
    assert json.loads((tmp_path / "m" / "training_log.json").read_text())["source"] == "<dataset>"


# -- the command line --------------------------------------------------------------------------------

def test_index_takes_a_save_to_disk_folder_as_corpus(cli, tiny_model_path, tmp_path):
    from textmetric.index import Index

    folder = saved(rows_dataset(DOCS), tmp_path / "saved")
    code, _, err = cli("index", "--corpus", folder, "--output", tmp_path / "idx", "--model", tiny_model_path, "-q")
    assert code == 0 and err == ""
    assert Index.load(tmp_path / "idx").document("d3").title == "Bread"


def test_evaluate_takes_a_saved_corpus_arrow_queries_and_parquet_qrels(cli, tiny_model_path, tmp_path):
    qrels = tmp_path / "qrels.parquet"
    parquet(QRELS, qrels)
    code, out, err = cli("evaluate", "--corpus", saved(rows_dataset(DOCS), tmp_path / "corpus"),
                         "--queries", arrow_file(rows_dataset(QUERIES), tmp_path / "queries"), "--qrels", qrels,
                         "--model", tiny_model_path, "--json", "-q")
    assert code == 0, err
    assert json.loads(out)["num_queries"] == 2


def test_evaluate_takes_a_beir_folder_as_corpus_as_index_does(cli, tiny_model_path, beir_dir):
    files = ["--queries", beir_dir / "queries.jsonl", "--qrels", beir_dir / "qrels" / "test.tsv"]
    code, by_folder, err = cli("evaluate", "--corpus", beir_dir, *files, "--model", tiny_model_path, "--json", "-q")
    assert code == 0, err
    _, by_file, _ = cli("evaluate", "--corpus", beir_dir / "corpus.jsonl", *files, "--model", tiny_model_path,
                        "--json", "-q")
    assert json.loads(by_folder) == json.loads(by_file)


def test_evaluate_a_run_against_jsonl_qrels(cli, tmp_path):
    run = tmp_path / "run.txt"
    run.write_text("q1 Q0 d1 1 0.9 t\nq2 Q0 d2 1 0.9 t\nq2 Q0 d3 2 0.8 t\n", encoding="utf-8")
    qrels = write_jsonl(tmp_path / "qrels.jsonl", [{"query-id": "q1", "corpus-id": "d1", "score": 1},
                                                   {"query-id": "q2", "corpus-id": "d3", "score": 1}])
    code, out, err = cli("evaluate", "--run", run, "--qrels", qrels, "--metrics", "mrr@10", "--json")
    assert code == 0, err
    assert json.loads(out) == {"mrr@10": 0.75, "num_queries": 2}


def test_a_saved_dataset_dict_as_corpus_is_one_line_naming_the_splits(cli, tmp_path):
    folder = saved(datasets.DatasetDict({"corpus": rows_dataset(DOCS)}), tmp_path / "dd")
    code, _, err = cli("index", "--corpus", folder, "--output", tmp_path / "idx")
    assert code == 2 and err.count("\n") == 1
    assert f"give one split, e.g. {folder / 'corpus'}" in err and not (tmp_path / "idx").exists()


def test_a_bad_grade_in_parquet_qrels_is_one_line_on_the_command_line(cli, tmp_path):
    run = tmp_path / "run.txt"
    run.write_text("q1 Q0 d1 1 0.9 t\n", encoding="utf-8")
    qrels = tmp_path / "qrels.parquet"
    parquet({"query-id": ["q1"], "corpus-id": ["d1"], "score": ["high"]}, qrels)
    code, _, err = cli("evaluate", "--run", run, "--qrels", qrels)
    assert code == 2 and err == (f"textmetric: error: {qrels} (row 1): field 'score': "
                                 f"grade 'high' is not an integer\n")


def test_search_numbers_query_arguments_from_zero_as_python_numbers_a_list(cli, tiny_model_path, tmp_path):
    from textmetric.index import ExactIndex
    from textmetric.search.retriever import Retriever

    cli("index", "--corpus", saved(rows_dataset(DOCS), tmp_path / "saved"), "--output", tmp_path / "idx",
        "--model", tiny_model_path, "-q")
    code, out, _ = cli("search", "--index", tmp_path / "idx", "bread", "cats", "--json", "-q")
    cli_ids = [json.loads(line)["query_id"] for line in out.splitlines()]
    from textmetric.encoding import load_model

    model = load_model(tiny_model_path)
    python_ids = list(Retriever(model, ExactIndex.build(model, CORPUS)).search(["bread", "cats"], k=1))
    assert code == 0 and cli_ids == python_ids == ["0", "1"]


def test_search_takes_a_saved_dataset_of_queries(cli, tiny_model_path, tmp_path):
    cli("index", "--corpus", saved(rows_dataset(DOCS), tmp_path / "corpus"), "--output", tmp_path / "idx",
        "--model", tiny_model_path, "-q")
    code, out, err = cli("search", "--index", tmp_path / "idx", "--queries",
                         saved(rows_dataset(QUERIES), tmp_path / "queries"), "--json", "-q")
    assert code == 0, err
    assert [json.loads(line)["query_id"] for line in out.splitlines()] == ["q1", "q2"]


def test_train_takes_a_save_to_disk_folder_of_triplets(cli, tiny_model_path, tmp_path):
    folder = saved(rows_dataset(TRIPLETS), tmp_path / "saved")
    code, _, err = cli("train", "--examples", folder, "--output", tmp_path / "m", "--model", tiny_model_path,
                       "--loss", "triplet", "--epochs", "1", "--batch-size", "4", "--dev-fraction", "0.25")
    assert code == 0, err
    assert json.loads((tmp_path / "m" / "training_log.json").read_text())["source"] == str(folder)
