"""A query's hits as a reader sees them: the record (search --json, one per query) and the text table."""

import numpy as np

from textmetric.data import Document
from textmetric.index import ExactIndex
from textmetric.search.results import hits_table, query_record, snippet


def small_index() -> ExactIndex:
    return ExactIndex(["a", "b"], np.eye(2, dtype=np.float32),
                      documents=[Document("first text " * 20, "A"), Document("second", "")])


def test_a_snippet_is_one_line_cut_at_a_word():
    assert snippet("one  two\nthree", 20) == "one two three"
    assert snippet("alpha beta gamma delta epsilon", 16) == "alpha beta..."
    assert len(snippet("x" * 50, 10)) == 10


def test_a_query_record_lists_its_hits_in_rank_order_with_their_documents():
    record = query_record("q1", "what", {"b": 0.2, "a": 0.9}, small_index(), "cosine")
    assert record["query_id"] == "q1" and record["query"] == "what" and record["score_kind"] == "cosine"
    assert [(h["rank"], h["doc_id"], h["score"], h["title"]) for h in record["hits"]] == [(1, "a", 0.9, "A"),
                                                                                      (2, "b", 0.2, "")]
    assert record["hits"][0]["text"] == small_index().document("a").text
    assert query_record("q1", "what", {"a": 0.9}, small_index(), "cosine", 14)["hits"][0]["text"] == "first text..."


def test_the_hits_table_heads_its_score_column_with_the_score_kind():
    lines = hits_table("what", {"a": 0.9, "b": 0.2}, small_index(), "bm25", 20).splitlines()
    assert lines[0] == "query: what" and "score (bm25)" in lines[1]
    assert lines[2].split()[:3] == ["1", "0.9000", "a"] and lines[2].endswith("A: first text...")


def test_the_hits_table_shows_control_characters_escaped_and_the_record_keeps_them_exact():
    clear = "\x1b[2J\x1b[H"
    index = ExactIndex([f"evil{clear}", "b"], np.eye(2, dtype=np.float32),
                       documents=[Document(f"text{clear}\x07 and\nmore", "title\x9b"), Document("plain", "")])
    table = hits_table("query\x1b]0;owned\x07", {f"evil{clear}": 0.9, "b": 0.2}, index, "cosine", 60)
    assert not any(character in table for character in "\x1b\x07\x9b")
    lines = table.splitlines()
    assert lines[0] == "query: query\\x1b]0;owned\\x07" and len(lines) == 4
    assert lines[2].split()[2] == "evil\\x1b[2J\\x1b[H"
    assert lines[2].endswith("title\\x9b: text\\x1b[2J\\x1b[H\\x07 and more")
    record = query_record("q", "query", {f"evil{clear}": 0.9}, index, "cosine")
    assert record["hits"][0]["doc_id"] == f"evil{clear}" and record["hits"][0]["text"] == f"text{clear}\x07 and\nmore"
