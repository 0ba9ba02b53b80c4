"""A document's fields: the extra columns of its record, kept by every loader and by the index."""

import datetime
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import write_jsonl
from textmetric.data import Document, load_corpus
from textmetric.errors import InputError
from textmetric.index import ExactIndex, Index
from textmetric.index.building import add_documents, build_index

FIXTURES = Path(__file__).parent / "fixtures"
RECORDS = [
    {"_id": "a", "title": "A", "text": "alpha", "year": 2020, "lang": "en", "score": 0.5, "open": True},
    {"_id": "b", "title": "B", "text": "beta", "year": 1999, "lang": "de", "score": None, "open": False},
]
FIELDS = {"a": {"year": 2020, "lang": "en", "score": 0.5, "open": True},
          "b": {"year": 1999, "lang": "de", "score": None, "open": False}}


def test_jsonl_columns_beyond_id_title_and_text_become_fields(tmp_path):
    corpus = load_corpus(write_jsonl(tmp_path / "c.jsonl", RECORDS))
    assert {d: doc.fields for d, doc in corpus.items()} == FIELDS
    assert corpus["a"] == Document("alpha", "A", FIELDS["a"])


def test_csv_columns_become_string_fields(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("_id,text,year,lang\na,alpha,2020,en\n", encoding="utf-8")
    assert load_corpus(path)["a"].fields == {"year": "2020", "lang": "en"}


def test_parquet_columns_keep_their_types(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(RECORDS), tmp_path / "c.parquet")
    corpus = load_corpus(tmp_path / "c.parquet")
    assert {d: doc.fields for d, doc in corpus.items()} == FIELDS


def test_a_parquet_nan_is_null_and_a_date_is_its_iso_text(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"_id": ["a"], "text": ["x"], "rating": [float("nan")], "day": [datetime.date(2024, 5, 1)]})
    pq.write_table(table, tmp_path / "c.parquet")
    assert load_corpus(tmp_path / "c.parquet")["a"].fields == {"rating": None, "day": "2024-05-01"}


def test_the_keys_of_a_beir_metadata_object_become_fields(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"_id": "a", "text": "x", "metadata": {"url": "u", "pmid": 7}},
                                              {"_id": "b", "text": "y", "metadata": {}}])
    corpus = load_corpus(path)
    assert corpus["a"].fields == {"url": "u", "pmid": 7} and corpus["b"].fields == {}


def test_a_metadata_key_that_is_also_a_column_is_an_error(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"_id": "a", "text": "x", "url": "1", "metadata": {"url": "2"}}])
    with pytest.raises(InputError, match=r"c\.jsonl:1: field 'metadata': 'url' is both a column and a key"):
        load_corpus(path)


def test_lists_and_objects_are_kept_as_they_came(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"_id": "a", "text": "x", "tags": ["p", 1], "extra": {"k": [True]}}])
    assert load_corpus(path)["a"].fields == {"tags": ["p", 1], "extra": {"k": [True]}}


def test_renamed_id_text_and_title_columns_are_not_fields(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"docno": "a", "body": "x", "headline": "H", "id": "9", "kind": "k"}])
    corpus = load_corpus(path, id_field="docno", text_field="body", title_field="headline")
    assert corpus["a"].fields == {"kind": "k"}


def test_a_dict_corpus_keeps_the_extra_keys_of_its_records():
    corpus = load_corpus({"a": {"text": "x", "title": "T", "lang": "en"}})
    assert corpus["a"] == Document("x", "T", {"lang": "en"})


def test_a_value_json_cannot_hold_names_the_document_and_field():
    with pytest.raises(InputError, match="document 'a': field 'blob': a value of type bytes cannot be a field"):
        ExactIndex(["a"], np.ones((1, 4)), documents=[Document("x", fields={"blob": b"\0"})])


def test_a_bad_field_value_leaves_the_index_as_it_was():
    index = Index(4)
    index.add(["a"], np.ones((1, 4)), [Document("x", fields={"n": 1})])
    with pytest.raises(InputError):
        index.add(["a", "b"], np.ones((2, 4)), [Document("y"), Document("z", fields={"n": float("inf")})])
    assert index.ids == ["a"] and index.document("a") == Document("x", fields={"n": 1}) and index.element_count == 1


def test_a_document_with_fields_is_still_hashable():
    assert {Document("x", fields={"a": [1]}), Document("x", fields={"a": [1]})} == {Document("x", fields={"a": [1]})}


def store_and_reload(tmp_path, index):
    index.save(tmp_path / "idx")
    return Index.load(tmp_path / "idx")


def test_fields_survive_save_and_load_with_their_types(tmp_path):
    fields = {"s": "é", "i": 2 ** 40, "f": 2.5, "whole": 3.0, "t": True, "n": None, "l": [1, "x"], "o": {"k": None}}
    index = Index(4)
    index.add(["a"], np.ones((1, 4)), [Document("x", "T", fields)])
    loaded = store_and_reload(tmp_path, index).document("a")
    assert loaded == Document("x", "T", fields) and list(loaded.fields) == list(fields)
    assert type(loaded.fields["whole"]) is float and type(loaded.fields["t"]) is bool


def test_replacing_a_document_replaces_its_fields():
    index = Index(4)
    index.add(["a"], np.ones((1, 4)), [Document("x", fields={"old": 1, "both": 1})])
    index.add(["a"], np.ones((1, 4)), [Document("y", fields={"both": 2})])
    assert index.document("a").fields == {"both": 2} and index.field_kinds() == {"both": frozenset({"number"})}


def test_deleting_a_document_drops_its_fields_from_the_index():
    index = Index(4)
    index.add(["a", "b"], np.ones((2, 4)), [Document("x", fields={"only_a": 1}), Document("y", fields={"n": "z"})])
    index.delete(["a"])
    assert index.field_kinds() == {"n": frozenset({"string"})}


def test_compact_keeps_the_fields():
    index = Index(4)
    index.add(["a", "b"], np.ones((2, 4)), [Document("x", fields={"n": 1}), Document("y", fields={"n": 2})])
    index.delete(["a"])
    assert index.compact().document("b").fields == {"n": 2}


def test_build_and_add_keep_the_fields_of_the_corpus(tmp_path, tiny_model):
    build_index(tiny_model, write_jsonl(tmp_path / "c.jsonl", RECORDS), tmp_path / "idx")
    index = Index.load(tmp_path / "idx")
    add_documents(index, tiny_model, write_jsonl(tmp_path / "more.jsonl", [
        {"_id": "c", "text": "gamma", "year": 2001, "metadata": {"lang": "fr"}}]))
    index.save(tmp_path / "idx")
    index = Index.load(tmp_path / "idx")
    assert {d: index.document(d).fields for d in index.ids} == {**FIELDS, "c": {"year": 2001, "lang": "fr"}}


def test_an_index_written_before_fields_loads_with_none(tmp_path):
    shutil.copytree(FIXTURES / "index-v1", tmp_path / "index-v1")
    old = Index.load(tmp_path / "index-v1")
    assert old.document("d1").fields == {} and old.field_kinds() == {}
    with pytest.raises(InputError, match="unknown field 'lang'"):
        old.search(old.embeddings(["d1"]), 3, filter={"lang": "en"})


def test_an_old_index_saved_again_keeps_its_documents_and_takes_fields(tmp_path):
    shutil.copytree(FIXTURES / "index-v1", tmp_path / "index-v1")
    old = Index.load(tmp_path / "index-v1")
    old.add(["new"], old.embeddings(["d1"]), [Document("n", fields={"lang": "en"})])
    old.save(tmp_path / "again")
    again = Index.load(tmp_path / "again")
    assert again.document("d4").text == "The moon orbits the earth every month."
    assert again.document("new").fields == {"lang": "en"} and again.document("d4").fields == {}
