"""Specification of the loaders in :mod:`textmetric.data`.

Every error is an ``InputError`` whose message is one line: ``<file>:<line>: <problem>``
(``<file> (row N): <problem>`` for parquet); every warning goes to the "textmetric" logger.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import warning_messages
from textmetric.data import (
    Document, RetrievalData, check_qrels, load_beir, load_corpus, load_examples, load_qrels, load_queries,
    load_retrieval_data,
)
from textmetric.errors import InputError

# --------------------------------------------------------------------------- helpers


def write_jsonl(path: Path, records: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    return path


def write_parquet(path: Path, columns: dict[str, list]) -> Path:
    pq.write_table(pa.table(columns), path)
    return path


def make_beir(folder: Path, *, corpus=None, queries=None, splits=None) -> Path:
    write_jsonl(folder / "corpus.jsonl", corpus if corpus is not None else [
        {"_id": "d1", "title": "Cats", "text": "Cats purr."},
        {"_id": "d2", "title": "", "text": "Dogs bark."},
        {"_id": "d3", "title": "Bread", "text": "Bake it."},
    ])
    write_jsonl(folder / "queries.jsonl", queries if queries is not None else [
        {"_id": "q1", "text": "what purrs"},
        {"_id": "q2", "text": "what barks"},
        {"_id": "q3", "text": "how to bake"},
    ])
    splits = splits if splits is not None else {
        "test": [("q1", "d1", 1), ("q2", "d2", 2)],
        "dev": [("q3", "d3", 1)],
    }
    for name, rows in splits.items():
        write_text(folder / "qrels" / f"{name}.tsv",
                   "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{g}\n" for q, d, g in rows))
    return folder


def raises_input_error(call, *args, **kwargs) -> str:
    """The message of the InputError that ``call`` raises, checked to be one line."""
    with pytest.raises(InputError) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message, message
    return message


def assert_error_at(message: str, path: Path, line: int, *problem: str) -> None:
    assert message.startswith(f"{path}:{line}: "), message
    for words in problem:
        assert words in message, message


# --------------------------------------------------------------------------- Document


def test_full_text_is_title_space_text_when_there_is_a_title():
    assert Document(text="Cats purr.", title="Cats").full_text == "Cats Cats purr."


def test_full_text_is_the_text_alone_without_a_title():
    assert Document(text="Dogs bark.").full_text == "Dogs bark."
    assert Document(text="Dogs bark.", title="").full_text == "Dogs bark."


def test_full_text_is_stripped_as_beir_does():
    assert Document(text="  body  ", title=" head ").full_text == "head    body"
    assert Document(text="  body \n").full_text == "body"
    assert Document(text="", title="Only a title").full_text == "Only a title"


# --------------------------------------------------------------------------- BEIR folders


def test_load_beir_reads_corpus_queries_and_test_qrels(tmp_path):
    data = load_beir(make_beir(tmp_path / "beir"))
    assert isinstance(data, RetrievalData)
    assert data.corpus == {"d1": Document("Cats purr.", "Cats"), "d2": Document("Dogs bark.", ""),
                           "d3": Document("Bake it.", "Bread")}
    assert data.qrels == {"q1": {"d1": 1}, "q2": {"d2": 2}}


def test_load_beir_keeps_only_the_queries_judged_in_the_split(tmp_path):
    data = load_beir(make_beir(tmp_path / "beir"))
    assert data.queries == {"q1": "what purrs", "q2": "what barks"}


def test_load_beir_reads_the_chosen_split(tmp_path):
    data = load_beir(make_beir(tmp_path / "beir"), split="dev")
    assert data.qrels == {"q3": {"d3": 1}}
    assert data.queries == {"q3": "how to bake"}
    assert set(data.corpus) == {"d1", "d2", "d3"}


def test_load_beir_unknown_split_lists_the_available_splits(tmp_path):
    folder = make_beir(tmp_path / "beir")
    message = raises_input_error(load_beir, folder, split="train")
    assert str(folder / "qrels" / "train.tsv") in message
    assert "no split 'train'" in message
    assert "dev, test" in message


def test_load_beir_missing_folder_is_an_error(tmp_path):
    message = raises_input_error(load_beir, tmp_path / "absent")
    assert str(tmp_path / "absent") in message and "no such folder" in message


def test_load_beir_missing_corpus_file_is_an_error(tmp_path):
    folder = make_beir(tmp_path / "beir")
    (folder / "corpus.jsonl").unlink()
    message = raises_input_error(load_beir, folder)
    assert message.startswith(f"{folder / 'corpus.jsonl'}: ") and "no such file" in message


def test_load_beir_judged_query_missing_from_queries_is_not_kept(tmp_path, warnings_log):
    folder = make_beir(tmp_path / "beir", splits={"test": [("q1", "d1", 1), ("q9", "d2", 1)]})
    data = load_beir(folder)
    assert data.queries == {"q1": "what purrs"}
    assert data.qrels == {"q1": {"d1": 1}, "q9": {"d2": 1}}  # still in the qrels


def test_three_separate_files_load_as_the_beir_folder_they_come_from(tmp_path):
    folder = make_beir(tmp_path / "beir")
    data = load_retrieval_data(folder / "corpus.jsonl", folder / "queries.jsonl", folder / "qrels" / "test.tsv")
    assert data == load_beir(folder)


def test_separate_files_without_a_corpus_keep_the_judged_queries_and_warn_of_missing_ones(tmp_path, warnings_log):
    folder = make_beir(tmp_path / "beir", splits={"test": [("q1", "d1", 1), ("x1", "d2", 1)]})
    qrels = folder / "qrels" / "test.tsv"
    data = load_retrieval_data(None, folder / "queries.jsonl", qrels)
    assert data.corpus == {} and data.queries == {"q1": "what purrs"}
    assert warning_messages(warnings_log) == [
        f"{qrels}: 1 judged query id(s) are not in the queries (first: 'x1'); they are not evaluated"]


# --------------------------------------------------------------------------- jsonl


def test_jsonl_corpus_with_underscore_id(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"_id": "a", "title": "T", "text": "x"}])
    assert load_corpus(path) == {"a": Document(text="x", title="T")}


def test_jsonl_corpus_with_plain_id(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"id": "a", "text": "x"}])
    assert load_corpus(path) == {"a": Document(text="x", title="")}


def test_missing_title_is_an_empty_title(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"_id": "a", "text": "x"}, {"_id": "b", "title": None, "text": "y"}])
    corpus = load_corpus(path)
    assert corpus["a"].title == "" and corpus["b"].title == ""


def test_integer_ids_become_strings(tmp_path):
    corpus = load_corpus(write_jsonl(tmp_path / "c.jsonl", [{"_id": 7, "text": "x"}]))
    queries = load_queries(write_jsonl(tmp_path / "q.jsonl", [{"id": 12, "text": "y"}]))
    assert corpus == {"7": Document("x")}
    assert queries == {"12": "y"}


def test_jsonl_queries_map_id_to_text(tmp_path):
    path = write_jsonl(tmp_path / "q.jsonl", [{"_id": "q1", "text": "one"}, {"_id": "q2", "text": "two",
                                                                          "metadata": {}}])
    assert load_queries(path) == {"q1": "one", "q2": "two"}


def test_configurable_column_names_for_the_corpus(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"docno": "a", "body": "x", "headline": "H", "text": "ignored"}])
    corpus = load_corpus(path, id_field="docno", text_field="body", title_field="headline")
    assert corpus == {"a": Document(text="x", title="H")}


def test_configurable_column_names_for_the_queries(tmp_path):
    path = write_jsonl(tmp_path / "q.jsonl", [{"qid": 3, "question": "why"}])
    assert load_queries(path, id_field="qid", text_field="question") == {"3": "why"}


def test_blank_lines_in_jsonl_are_skipped(tmp_path):
    path = write_text(tmp_path / "c.jsonl", '{"_id": "a", "text": "x"}\n\n   \n{"_id": "b", "text": "y"}\n\n')
    assert set(load_corpus(path)) == {"a", "b"}


def test_a_blank_line_does_not_shift_later_line_numbers(tmp_path):
    path = write_text(tmp_path / "c.jsonl", '{"_id": "a", "text": "x"}\n\n{"_id": "b"}\n')
    assert_error_at(raises_input_error(load_corpus, path), path, 3, "missing text")


def test_utf8_bom_is_tolerated_in_jsonl(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + '{"_id": "a", "text": "caf\u00e9"}\n'.encode())
    assert load_corpus(path) == {"a": Document("caf\u00e9")}


def test_crlf_line_endings_are_read(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_bytes(b'{"_id": "q1", "text": "one"}\r\n{"_id": "q2", "text": "two"}\r\n')
    assert load_queries(path) == {"q1": "one", "q2": "two"}


def test_explicit_format_overrides_the_suffix(tmp_path):
    path = write_text(tmp_path / "corpus.txt", '{"_id": "a", "text": "x"}\n')
    assert load_corpus(path, format="jsonl") == {"a": Document("x")}


# --------------------------------------------------------------------------- csv and tsv


def test_csv_corpus(tmp_path):
    path = write_text(tmp_path / "c.csv", '_id,title,text\nd1,Cats,"Cats, they purr."\n2,,Dogs bark.\n')
    assert load_corpus(path) == {"d1": Document("Cats, they purr.", "Cats"), "2": Document("Dogs bark.", "")}


def test_csv_quoted_field_may_span_lines(tmp_path):
    path = write_text(tmp_path / "c.csv", 'id,text\nd1,"line one\nline two"\n')
    assert load_corpus(path) == {"d1": Document("line one\nline two")}


def test_tsv_corpus_with_id_column(tmp_path):
    path = write_text(tmp_path / "c.tsv", "id\ttitle\ttext\nd1\tCats\tCats, purr.\nd2\t\tDogs bark.\n")
    assert load_corpus(path) == {"d1": Document("Cats, purr.", "Cats"), "d2": Document("Dogs bark.", "")}


def test_tsv_queries(tmp_path):
    path = write_text(tmp_path / "q.tsv", "_id\ttext\nq1\tone, two\nq2\tthree\n")
    assert load_queries(path) == {"q1": "one, two", "q2": "three"}


def test_csv_configurable_column_names(tmp_path):
    path = write_text(tmp_path / "c.csv", "pid,passage,heading\np1,body,Head\n")
    assert load_corpus(path, id_field="pid", text_field="passage", title_field="heading") == {
        "p1": Document("body", "Head")}


def test_utf8_bom_is_tolerated_in_csv(tmp_path):
    path = tmp_path / "q.csv"
    path.write_bytes(b"\xef\xbb\xbf_id,text\nq1,one\n")
    assert load_queries(path) == {"q1": "one"}


def test_csv_header_only_is_an_empty_file(tmp_path):
    path = write_text(tmp_path / "c.csv", "_id,text\n")
    message = raises_input_error(load_corpus, path)
    assert message.startswith(f"{path}: ") and "empty file" in message


# --------------------------------------------------------------------------- parquet


def test_parquet_corpus(tmp_path):
    path = write_parquet(tmp_path / "c.parquet", {"_id": ["d1", "d2"], "title": ["Cats", None],
                                                  "text": ["Cats purr.", "Dogs bark."]})
    assert load_corpus(path) == {"d1": Document("Cats purr.", "Cats"), "d2": Document("Dogs bark.", "")}


def test_parquet_integer_ids_become_strings(tmp_path):
    path = write_parquet(tmp_path / "q.parquet", {"id": pa.array([1, 2], pa.int64()), "text": ["one", "two"]})
    assert load_queries(path) == {"1": "one", "2": "two"}


def test_parquet_configurable_column_names(tmp_path):
    path = write_parquet(tmp_path / "c.pq", {"pid": ["p1"], "passage": ["body"], "heading": ["Head"]})
    assert load_corpus(path, id_field="pid", text_field="passage", title_field="heading") == {
        "p1": Document("body", "Head")}


def test_parquet_row_missing_text_names_the_row(tmp_path):
    path = write_parquet(tmp_path / "c.parquet", {"_id": ["d1", "d2"], "text": ["x", None]})
    message = raises_input_error(load_corpus, path)
    assert message.startswith(f"{path} (row 2): "), message
    assert "'text'" in message and "missing text" in message


def test_parquet_without_a_text_column_names_the_first_row(tmp_path):
    path = write_parquet(tmp_path / "c.parquet", {"_id": ["d1"], "body": ["x"]})
    message = raises_input_error(load_corpus, path)
    assert message.startswith(f"{path} (row 1): ") and "missing text" in message


def test_parquet_duplicate_id_names_both_rows(tmp_path):
    path = write_parquet(tmp_path / "c.parquet", {"_id": ["d1", "d2", "d1"], "text": ["x", "y", "z"]})
    message = raises_input_error(load_corpus, path)
    assert message.startswith(f"{path} (row 3): "), message
    assert "duplicate document id 'd1'" in message and "row 1" in message
    assert "line" not in message


def test_unreadable_parquet_is_an_error(tmp_path):
    path = write_text(tmp_path / "c.parquet", "not parquet at all\n")
    message = raises_input_error(load_corpus, path)
    assert message.startswith(f"{path}: ") and "parquet" in message


# --------------------------------------------------------------------------- qrels


def test_qrels_in_beir_tsv_with_header(tmp_path):
    path = write_text(tmp_path / "test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t0\nq2\td1\t2\n")
    assert load_qrels(path) == {"q1": {"d1": 1, "d2": 0}, "q2": {"d1": 2}}


def test_qrels_in_trec_four_column_form(tmp_path):
    path = write_text(tmp_path / "qrels.txt", "q1 0 d1 1\nq1 0 d2 0\nq2 Q0 d1 2\n")
    assert load_qrels(path) == {"q1": {"d1": 1, "d2": 0}, "q2": {"d1": 2}}


def test_qrels_trec_form_may_be_tab_separated(tmp_path):
    path = write_text(tmp_path / "qrels.tsv", "q1\t0\td1\t1\nq2\t0\td2\t3\n")
    assert load_qrels(path) == {"q1": {"d1": 1}, "q2": {"d2": 3}}


def test_qrels_beir_tsv_without_header(tmp_path):
    path = write_text(tmp_path / "test.tsv", "q1\td1\t1\nq2\td2\t0\n")
    assert load_qrels(path) == {"q1": {"d1": 1}, "q2": {"d2": 0}}


def test_qrels_negative_grades_are_kept(tmp_path):
    path = write_text(tmp_path / "qrels.txt", "q1 0 d1 -1\nq1 0 d2 1\n")
    assert load_qrels(path) == {"q1": {"d1": -1, "d2": 1}}


def test_utf8_bom_is_tolerated_in_qrels(tmp_path):
    path = tmp_path / "test.tsv"
    path.write_bytes(b"\xef\xbb\xbfquery-id\tcorpus-id\tscore\nq1\td1\t1\n")
    assert load_qrels(path) == {"q1": {"d1": 1}}


def test_qrels_blank_lines_are_skipped(tmp_path):
    path = write_text(tmp_path / "test.tsv", "query-id\tcorpus-id\tscore\n\nq1\td1\t1\n\n")
    assert load_qrels(path) == {"q1": {"d1": 1}}


@pytest.mark.parametrize("grade", ["1.5", "high", "1_0", ""])
def test_qrels_non_integer_grade_is_an_error(tmp_path, grade):
    path = write_text(tmp_path / "test.tsv", f"query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t{grade}\n")
    assert_error_at(raises_input_error(load_qrels, path), path, 3, f"grade '{grade}' is not an integer")


def test_qrels_non_integer_grade_in_trec_form_is_an_error(tmp_path):
    path = write_text(tmp_path / "qrels.txt", "q1 0 d1 1\nq1 0 d2 high\n")
    assert_error_at(raises_input_error(load_qrels, path), path, 2, "grade 'high' is not an integer")


@pytest.mark.parametrize("first", ["q1\td1\thigh", "qid\tdocid\trel", "query-id\tcorpus-id\tgrade",
                                   "qid 0 docid rel"])
def test_only_beirs_literal_header_is_skipped_on_the_first_line(tmp_path, first):
    path = write_text(tmp_path / "test.tsv", f"{first}\nq1\td2\t1\n")
    assert_error_at(raises_input_error(load_qrels, path), path, 1, f"grade '{first.split()[-1]}' is not an integer")


def test_qrels_fractional_grade_on_the_first_line_is_not_taken_for_a_header(tmp_path):
    path = write_text(tmp_path / "test.tsv", "q1\td1\t1.5\nq1\td2\t1\n")
    assert_error_at(raises_input_error(load_qrels, path), path, 1, "grade '1.5' is not an integer")


@pytest.mark.parametrize("line, count", [("q1\td2", 2), ("q1\t0\td2\t1", 4)])
def test_qrels_line_with_the_wrong_number_of_fields_is_an_error(tmp_path, line, count):
    path = write_text(tmp_path / "test.tsv", f"query-id\tcorpus-id\tscore\nq1\td1\t1\n{line}\n")
    assert_error_at(raises_input_error(load_qrels, path), path, 3, "expected 3 fields", f"got {count}")


def test_qrels_first_line_with_neither_three_nor_four_fields_is_an_error(tmp_path):
    path = write_text(tmp_path / "qrels.txt", "q1 d1\n")
    assert_error_at(raises_input_error(load_qrels, path), path, 1, "expected 3", "or 4", "got 2")


def test_qrels_document_judged_twice_for_a_query_is_an_error(tmp_path):
    path = write_text(tmp_path / "test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td1\t1\nq1\td1\t0\n")
    assert_error_at(raises_input_error(load_qrels, path), path, 4,
                    "document 'd1' judged twice for query 'q1'", "first on line 2")


def test_qrels_empty_query_id_is_an_error(tmp_path):
    path = write_text(tmp_path / "test.tsv", "query-id\tcorpus-id\tscore\n\td1\t1\n")
    assert_error_at(raises_input_error(load_qrels, path), path, 2, "empty query or document id")


# --------------------------------------------------------------------------- errors in corpora and queries


def test_json_nested_too_deeply_to_read_is_one_line_naming_the_line(tmp_path):
    path = write_text(tmp_path / "q.jsonl", '{"_id": "q1", "text": "a"}\n{"_id": "q2", "text": '
                      + "[" * 100_000 + "]" * 100_000 + "}\n")
    assert_error_at(raises_input_error(load_queries, path), path, 2, "malformed JSON: nested too deeply")


def test_a_field_nested_deeper_than_any_reader_goes_is_one_line_naming_the_line(tmp_path):
    nested = json.loads("[" * 950 + "]" * 950)  # JSON reads it, but Python would recurse past its limit
    path = write_jsonl(tmp_path / "c.jsonl", [{"_id": "a", "text": "x", "f": [[1]]}, {"_id": "b", "text": "y",
                                                                                  "f": nested}])
    assert_error_at(raises_input_error(load_corpus, path), path, 2, "field 'f'", "nested more than 100 deep")


@pytest.mark.parametrize("record, field", [({"_id": "a\ud800", "text": "x"}, "_id"),
                                           ({"_id": "a", "text": "x\udfff y"}, "text"),
                                           ({"_id": "a", "text": "x", "title": "\ud800"}, "title"),
                                           ({"_id": "a", "text": "x", "lang": "e\ud800"}, "lang"),
                                           ({"_id": "a", "text": "x", "metadata": {"k\ud800": 1}}, "metadata")])
def test_a_lone_surrogate_in_an_id_a_text_or_a_field_is_refused_at_its_line(tmp_path, record, field):
    path = write_jsonl(tmp_path / "c.jsonl", [{"_id": "ok", "text": "fine"}, record])  # json escapes it: \\ud800
    assert "\\ud" in path.read_text()
    assert_error_at(raises_input_error(load_corpus, path), path, 2, f"field '{field}", "lone surrogate \\ud")


@pytest.mark.parametrize("source", [["fine", "bad \udcff"], {"q1": "fine", "q2": "bad \ud800"}])
def test_a_lone_surrogate_in_queries_given_in_python_is_refused(source):
    assert "lone surrogate" in raises_input_error(load_queries, source)


def test_a_lone_surrogate_in_a_corpus_of_documents_given_in_python_is_refused():
    assert "lone surrogate" in raises_input_error(load_corpus, {"d1": Document("fine"), "d2": Document("x\ud800")})
    assert "lone surrogate" in raises_input_error(load_corpus, {"d1": "fine", "d2": "x\ud800"})


def test_malformed_json_names_the_line(tmp_path):
    path = write_text(tmp_path / "c.jsonl", '{"_id": "a", "text": "x"}\n{"_id": "b", "text": \n')
    assert_error_at(raises_input_error(load_corpus, path), path, 2, "malformed JSON")


def test_json_line_that_is_not_an_object_is_an_error(tmp_path):
    path = write_text(tmp_path / "q.jsonl", '{"_id": "a", "text": "x"}\n["b", "y"]\n')
    assert_error_at(raises_input_error(load_queries, path), path, 2, "expected a JSON object", "list")


def test_missing_id_is_an_error(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"_id": "a", "text": "x"}, {"text": "y"}])
    assert_error_at(raises_input_error(load_corpus, path), path, 2, "_id", "missing id")


def test_missing_configured_id_field_names_that_field(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"_id": "a", "text": "x"}])
    assert_error_at(raises_input_error(load_corpus, path, id_field="docno"), path, 1, "'docno'", "missing id")


def test_missing_text_is_an_error(tmp_path):
    path = write_jsonl(tmp_path / "q.jsonl", [{"_id": "q1", "text": "x"}, {"_id": "q2", "title": "y"}])
    assert_error_at(raises_input_error(load_queries, path), path, 2, "'text'", "missing text")


@pytest.mark.parametrize("doc_id", ["", "   "])
def test_empty_id_is_an_error(tmp_path, doc_id):
    path = write_jsonl(tmp_path / "c.jsonl", [{"_id": "a", "text": "x"}, {"_id": doc_id, "text": "y"}])
    assert_error_at(raises_input_error(load_corpus, path), path, 2, "empty id")


def test_empty_id_in_csv_is_an_error(tmp_path):
    path = write_text(tmp_path / "c.csv", "_id,text\na,x\n,y\n")
    assert_error_at(raises_input_error(load_corpus, path), path, 3, "empty id")


def test_id_of_another_type_is_an_error(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"_id": 1.5, "text": "x"}])
    assert_error_at(raises_input_error(load_corpus, path), path, 1, "id must be a string or an integer")


def test_text_of_another_type_is_an_error(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"_id": "a", "text": ["x"]}])
    assert_error_at(raises_input_error(load_corpus, path), path, 1, "'text'", "must be a string")


def test_duplicate_document_id_names_both_lines(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"_id": "a", "text": "x"}, {"_id": "b", "text": "y"},
                                              {"_id": "a", "text": "z"}])
    assert_error_at(raises_input_error(load_corpus, path), path, 3, "duplicate document id 'a'",
                    "first on line 1")


def test_integer_and_string_ids_that_read_the_same_are_duplicates(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"_id": 1, "text": "x"}, {"_id": "1", "text": "y"}])
    assert_error_at(raises_input_error(load_corpus, path), path, 2, "duplicate document id '1'")


def test_duplicate_query_id_names_both_lines(tmp_path):
    path = write_text(tmp_path / "q.tsv", "_id\ttext\nq1\tone\nq1\ttwo\n")
    assert_error_at(raises_input_error(load_queries, path), path, 3, "duplicate query id 'q1'",
                    "first on line 2")


@pytest.mark.parametrize("loader, name, content, problem", [
    (load_corpus, "corpus.jsonl", "", "no documents"),
    (load_corpus, "corpus.jsonl", "\n\n", "no documents"),
    (load_queries, "queries.jsonl", "", "no queries"),
    (load_corpus, "corpus.csv", "", "no documents"),
    (load_qrels, "test.tsv", "", "no judgments"),
    (load_qrels, "test.tsv", "query-id\tcorpus-id\tscore\n", "no judgments"),
])
def test_empty_file_is_an_error(tmp_path, loader, name, content, problem):
    path = write_text(tmp_path / name, content)
    message = raises_input_error(loader, path)
    assert message.startswith(f"{path}: ") and "empty file" in message and problem in message, message


@pytest.mark.parametrize("loader, name, lines", [
    (load_corpus, "c.jsonl", [b'{"_id": "a", "text": "x"}', b'{"_id": "b", "text": "caf\xe9"}']),
    (load_queries, "q.csv", [b"_id,text", b"q1,caf\xe9"]),
    (load_queries, "q.tsv", [b"_id\ttext", b"q1\tcaf\xe9"]),
    (load_qrels, "test.tsv", [b"query-id\tcorpus-id\tscore", b"q\xe91\td1\t1"]),
])
def test_non_utf8_byte_names_its_line(tmp_path, loader, name, lines):
    path = tmp_path / name
    path.write_bytes(b"\n".join(lines + [b"ok"]) + b"\n")
    assert_error_at(raises_input_error(loader, path), path, 2, "not valid UTF-8", "0xe9")


@pytest.mark.parametrize("loader, name", [
    (load_corpus, "absent.jsonl"), (load_queries, "absent.csv"), (load_corpus, "absent.parquet"),
    (load_qrels, "absent.tsv"),
])
def test_missing_file_is_an_error(tmp_path, loader, name):
    message = raises_input_error(loader, tmp_path / name)
    assert message == f"{tmp_path / name}: no such file"


def test_folder_instead_of_a_file_is_an_error(tmp_path):
    (tmp_path / "corpus.jsonl").mkdir()
    message = raises_input_error(load_corpus, tmp_path / "corpus.jsonl")
    assert message.startswith(f"{tmp_path / 'corpus.jsonl'}: ") and "folder" in message


def test_unknown_suffix_is_an_error(tmp_path):
    path = write_text(tmp_path / "corpus.txt", '{"_id": "a", "text": "x"}\n')
    message = raises_input_error(load_corpus, path)
    assert message.startswith(f"{path}: ") and "'.txt'" in message and ".jsonl" in message


def test_unknown_explicit_format_is_an_error(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"_id": "a", "text": "x"}])
    message = raises_input_error(load_corpus, path, format="xml")
    assert "unknown format 'xml'" in message


def test_csv_row_with_too_many_fields_is_an_error(tmp_path):
    path = write_text(tmp_path / "c.csv", "_id,text\na,x\nb,y,extra\n")
    assert_error_at(raises_input_error(load_corpus, path), path, 3, "3 fields but the header has 2")


def test_csv_row_with_too_few_fields_is_missing_its_text(tmp_path):
    path = write_text(tmp_path / "c.csv", "_id,text\na,x\nb\n")
    assert_error_at(raises_input_error(load_corpus, path), path, 3, "missing text")


def test_malformed_csv_quoting_is_an_error(tmp_path):
    path = write_text(tmp_path / "c.csv", '_id,text\na,x\nb,"y"z\n')
    assert_error_at(raises_input_error(load_corpus, path), path, 3, "malformed CSV")


def test_input_error_is_a_value_error(tmp_path):
    with pytest.raises(ValueError):
        load_corpus(tmp_path / "absent.jsonl")


# --------------------------------------------------------------------------- warnings


def test_judged_documents_absent_from_the_corpus_warn_once_with_count_and_first_example(tmp_path,
                                                                                       warnings_log):
    folder = make_beir(tmp_path / "beir", splits={"test": [
        ("q1", "d1", 1), ("q1", "gone1", 1), ("q2", "gone2", 0), ("q2", "d2", 1)]})
    data = load_beir(folder)
    missing = [m for m in warning_messages(warnings_log) if "not in the corpus" in m]
    assert len(missing) == 1, warning_messages(warnings_log)
    assert "2 judged document id(s)" in missing[0]
    assert "'gone1'" in missing[0] and "line 3" in missing[0]
    assert str(folder / "qrels" / "test.tsv") in missing[0]
    assert data.qrels["q1"] == {"d1": 1, "gone1": 1}  # still counted as relevant


def test_judged_queries_absent_from_the_queries_warn_with_count(tmp_path, warnings_log):
    folder = make_beir(tmp_path / "beir", splits={"test": [
        ("q1", "d1", 1), ("x1", "d2", 1), ("x2", "d3", 1), ("x2", "d1", 0)]})
    load_beir(folder)
    missing = [m for m in warning_messages(warnings_log) if "not in the queries" in m]
    assert len(missing) == 1, warning_messages(warnings_log)
    assert "2 judged query id(s)" in missing[0] and "'x1'" in missing[0]


def test_consistent_beir_folder_warns_nothing(tmp_path, warnings_log):
    load_beir(make_beir(tmp_path / "beir"))
    assert warning_messages(warnings_log) == []


def test_check_qrels_on_loaded_dictionaries(warnings_log):
    qrels = {"q1": {"d1": 1, "d9": 1}, "q8": {"d1": 1}}
    check_qrels(qrels, corpus={"d1": Document("x")}, queries={"q1": "one"}, source="my.tsv")
    messages = warning_messages(warnings_log)
    assert len(messages) == 2
    assert messages[0].startswith("my.tsv: 1 judged document id(s)") and "'d9'" in messages[0]
    assert messages[1].startswith("my.tsv: 1 judged query id(s)") and "'q8'" in messages[1]
    assert all("\n" not in m for m in messages)


# --------------------------------------------------------------------------- examples (training / pairs)

def test_examples_with_anchor_positive_negative_are_triplets(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [{"anchor": "a", "positive": "p", "negative": "n"}])
    examples = load_examples(path)
    assert examples.kind == "triplets" and examples.rows == [("a", "p", "n")]


def test_examples_with_query_and_positive_are_pairs(tmp_path):
    path = write_text(tmp_path / "p.csv", "query,positive\nq1,doc one\nq2,doc two\n")
    examples = load_examples(path)
    assert examples.kind == "pairs" and examples.column("positive") == ["doc one", "doc two"]


def test_labelled_pair_labels_read_from_csv_text_become_integers(tmp_path):
    path = write_text(tmp_path / "l.csv", "text_a,text_b,label\na,b,1\nc,d,0\n")
    assert load_examples(path).column("label") == [1, 0]


def test_a_label_other_than_0_or_1_names_its_line(tmp_path):
    path = write_jsonl(tmp_path / "l.jsonl", [{"text_a": "a", "text_b": "b", "label": 1},
                                              {"text_a": "a", "text_b": "b", "label": 2}])
    message = raises_input_error(load_examples, path)
    assert_error_at(message, path, 2, "label", "must be 0 or 1")


def test_examples_whose_columns_match_no_form_list_the_forms(tmp_path):
    path = write_jsonl(tmp_path / "x.jsonl", [{"question": "q", "answer": "a"}])
    message = raises_input_error(load_examples, path)
    assert "match no example form" in message and "anchor, positive, negative" in message


def test_an_example_missing_a_column_after_the_first_row_names_its_line(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [{"anchor": "a", "positive": "p", "negative": "n"},
                                              {"anchor": "a", "positive": "p"}])
    assert_error_at(raises_input_error(load_examples, path), path, 2, "negative")
