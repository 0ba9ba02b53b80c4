"""The lexical (BM25) side: tokenisation, Lucene BM25 scores, trec_eval order, and its life inside an Index."""

import json
import math
import shutil
import threading

import numpy as np
import pytest

from conftest import rewrite_manifest
from textmetric.data import Document
from textmetric.errors import InputError
from textmetric.index import ExactIndex, Index
from textmetric.index.building import add_documents
from textmetric.index.lexical import LexicalIndex, LexicalSettings, Tokenizer
from textmetric.search.retriever import Retriever

PLAIN = LexicalSettings(stopwords=(), stemmer=None)
DOCS = {
    "d1": Document("Cats are small furry animals that purr.", "Cats"),
    "d2": Document("Dogs bark and love to fetch sticks.", "Dogs"),
    "d3": Document("Python is a programming language.", "Python"),
    "d4": Document("The moon orbits the earth every month."),
    "d5": Document("Bake bread with flour, water and yeast.", "Bread"),
}


def lexical_index(settings=None, docs=DOCS):
    return LexicalIndex.build(list(docs), [d.full_text for d in docs.values()], settings)


def index_with_lexical(settings=None, docs=DOCS, dim=8):
    index = Index(dim)
    vectors = np.random.default_rng(0).normal(size=(len(docs), dim)).astype(np.float32)
    index.add(list(docs), vectors, list(docs.values()))
    index.enable_lexical(settings)
    return index


def ids(hits):
    return [doc for doc, _ in hits]


def test_tokens_are_lowercased_stopped_and_stemmed_by_default():
    assert Tokenizer(LexicalSettings())("The Cats are Running to the rivers") == ["cat", "run", "river"]


def test_plain_settings_keep_every_word_as_written_in_lowercase():
    assert Tokenizer(PLAIN)("The Cats are Running") == ["the", "cats", "are", "running"]


def test_scores_follow_the_lucene_bm25_formula():
    texts = ["apple apple banana", "banana cherry", "cherry cherry cherry date"]
    index = LexicalIndex.build(["x", "y", "z"], texts, PLAIN)
    lengths, n = [3, 2, 4], 3
    avg = sum(lengths) / n

    def bm25(tf, df, length):
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        return idf * tf / (tf + 1.5 * (1 - 0.75 + 0.75 * length / avg))

    [hits] = index.search(["banana cherry"], k=3)
    expected = {"x": bm25(1, 2, 3), "y": bm25(1, 2, 2) + bm25(1, 2, 2), "z": bm25(3, 2, 4)}
    assert dict(hits) == pytest.approx(expected, rel=1e-5)
    assert ids(hits) == sorted(expected, key=expected.get, reverse=True)


def test_only_documents_sharing_a_term_come_back():
    [hits] = lexical_index().search(["purring cats"], k=5)
    assert ids(hits) == ["d1"]


def test_a_query_of_unknown_or_stop_words_finds_nothing():
    assert lexical_index().search(["zebra", "the and of", ""], k=5) == [[], [], []]


def test_ties_are_broken_by_doc_id_descending():
    index = LexicalIndex.build(["d1", "d10", "d9", "d2"], ["same words"] * 4, PLAIN)
    [hits] = index.search(["words"], k=3)
    assert ids(hits) == ["d9", "d2", "d10"]


def test_the_query_is_stemmed_like_the_documents():
    assert ids(lexical_index().search(["baking breads"], k=5)[0]) == ["d5"]
    assert lexical_index(PLAIN).search(["baking breads"], k=5) == [[]]


def test_save_then_load_gives_identical_results_and_no_pickle(tmp_path):
    index = lexical_index()
    names = index.save(tmp_path / "lex")
    assert sorted(p.name for p in (tmp_path / "lex").iterdir()) == sorted(names)
    for name in names:  # .npy readable without pickle, the rest JSON
        if name.endswith(".npy"):
            np.load(tmp_path / "lex" / name, allow_pickle=False)
        else:
            json.loads((tmp_path / "lex" / name).read_text(encoding="utf-8"))
    loaded = LexicalIndex.load(tmp_path / "lex", index.settings)
    queries = ["cats and dogs", "programming language", "bread yeast moon"]
    assert loaded.search(queries, k=5) == index.search(queries, k=5) and loaded.ids == index.ids


def test_an_unknown_stemmer_is_a_clear_error():
    with pytest.raises(InputError, match="unknown stemmer 'klingon'"):
        Tokenizer(LexicalSettings(stemmer="klingon"))


def test_settings_round_trip_through_the_manifest_record():
    settings = LexicalSettings(stopwords=("x",), stemmer=None, k1=1.2, b=0.5)
    assert LexicalSettings.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings


# -- inside an Index -------------------------------------------------------------------------------

def test_the_index_manifest_records_the_lexical_settings_and_checksums(tmp_path):
    index_with_lexical(PLAIN).save(tmp_path / "idx")
    lexical = json.loads((tmp_path / "idx" / "manifest.json").read_text())["lexical"]
    assert lexical["settings"]["stemmer"] is None and lexical["settings"]["stopwords"] == []
    assert lexical["count"] == 5 and "lexical/ids.json" in lexical["files"]
    assert all(len(digest["sha256"]) == 64 for digest in lexical["files"].values())


def test_the_lexical_side_round_trips_with_its_settings(tmp_path):
    index = index_with_lexical(PLAIN)
    index.save(tmp_path / "idx")
    loaded = Index.load(tmp_path / "idx")
    assert loaded.lexical_settings == PLAIN
    queries = ["cats", "baking breads", "the moon"]
    assert loaded.search_lexical(queries, 5) == index.search_lexical(queries, 5)
    assert loaded.search_lexical(["baking breads"], 5) == [[]]  # still unstemmed after loading


def test_an_added_document_is_found_and_a_replaced_one_by_its_new_text(tmp_path):
    index = index_with_lexical()
    index.add(["d6", "d1"], np.ones((2, 8), dtype=np.float32),
              [Document("Owls hunt at night."), Document("Sleeping all day long.")])
    assert ids(index.search_lexical(["owls"], 5)[0]) == ["d6"]
    assert index.search_lexical(["purr"], 5) == [[]] and ids(index.search_lexical(["sleep"], 5)[0]) == ["d1"]
    index.save(tmp_path / "idx")
    assert ids(Index.load(tmp_path / "idx").search_lexical(["owls"], 5)[0]) == ["d6"]


def test_a_deleted_document_never_comes_back_from_the_lexical_side(tmp_path):
    index = index_with_lexical()
    assert ids(index.search_lexical(["cats"], 5)[0]) == ["d1"]
    index.delete(["d1"])
    assert index.search_lexical(["cats"], 5) == [[]]
    index.save(tmp_path / "idx")
    loaded = Index.load(tmp_path / "idx")
    assert loaded.search_lexical(["cats"], 5) == [[]]
    assert loaded.compact().search_lexical(["cats"], 5) == [[]]


def test_a_deleted_document_never_comes_back_from_a_hybrid_search(tiny_model):
    index = Index(tiny_model.get_embedding_dimension())
    add_documents(index, tiny_model, DOCS)
    index.enable_lexical()
    index.delete(["d1", "d3"])
    for fusion in ("rrf", "score"):
        run = Retriever(tiny_model, index, mode="hybrid", fusion=fusion).search(
            {"q": "cats that purr", "p": "python programming"}, k=10)
        assert not {"d1", "d3"} & (set(run["q"]) | set(run["p"]))


def test_compact_keeps_the_lexical_side(tmp_path):
    index = index_with_lexical(PLAIN)
    index.delete(["d2"])
    compacted = index.compact()
    assert compacted.lexical_settings == PLAIN and ids(compacted.search_lexical(["moon"], 5)[0]) == ["d4"]


def test_an_index_without_a_lexical_side_says_how_to_add_one(tmp_path):
    index = Index(8)
    index.save(tmp_path / "idx")
    loaded = Index.load(tmp_path / "idx")
    assert loaded.lexical_settings is None
    with pytest.raises(InputError, match="index-lexical"):
        loaded.search_lexical(["cats"], 5)


def test_a_corrupt_lexical_file_fails_its_checksum(tmp_path):
    index_with_lexical().save(tmp_path / "idx")
    (tmp_path / "idx" / "lexical" / "ids.json").write_text('["d1"]')
    with pytest.raises(InputError, match="ids.json does not match its checksum"):
        Index.load(tmp_path / "idx")


def test_a_lexical_side_from_another_state_of_the_index_is_refused(tmp_path):
    index = index_with_lexical()
    index.save(tmp_path / "old")
    index.delete(["d1"])
    index.save(tmp_path / "idx")
    shutil.rmtree(tmp_path / "idx" / "lexical")
    shutil.copytree(tmp_path / "old" / "lexical", tmp_path / "idx" / "lexical")
    old_lexical = json.loads((tmp_path / "old" / "manifest.json").read_text())["lexical"]
    rewrite_manifest(tmp_path / "idx", lambda manifest: manifest.update(lexical=old_lexical))
    with pytest.raises(InputError, match="does not hold the same documents"):
        Index.load(tmp_path / "idx")


def test_an_empty_index_with_a_lexical_side_round_trips(tmp_path):
    index = Index(8)
    index.enable_lexical()
    index.save(tmp_path / "idx")
    assert Index.load(tmp_path / "idx").search_lexical(["anything"], 5) == [[]]


# -- through a Retriever ---------------------------------------------------------------------------

def test_lexical_mode_needs_no_model():
    run = Retriever(None, index_with_lexical(), mode="lexical").search({"q": "dogs fetch sticks"}, k=3)
    assert list(run["q"]) == ["d2"]


def test_exact_search_has_no_lexical_side():
    exact = ExactIndex(["a"], np.ones((1, 4), dtype=np.float32))
    with pytest.raises(InputError, match="exact search has no lexical side"):
        Retriever(None, exact, mode="hybrid")


def test_an_unknown_mode_is_refused():
    with pytest.raises(InputError, match="unknown mode 'sparse'"):
        Retriever(None, index_with_lexical(), mode="sparse")


def test_hybrid_keeps_k_of_the_fused_candidates(tiny_model):
    index = Index(tiny_model.get_embedding_dimension())
    add_documents(index, tiny_model, DOCS)
    index.enable_lexical()
    run = Retriever(tiny_model, index, mode="hybrid", depth=2).search({"q": "bake bread"}, k=10)
    assert "d5" in run["q"] and len(run["q"]) <= 3  # two dense candidates, one lexical (d5)


def test_lexical_and_dense_searches_run_together_while_documents_change():
    index = index_with_lexical(PLAIN)
    queries = np.random.default_rng(1).normal(size=(5, 8)).astype(np.float32)
    errors, lexical_hits = [], []

    def worker(kind):
        try:
            for _ in range(20):
                if kind == "lexical":
                    lexical_hits.append(ids(index.search_lexical(["moon"], 5)[0]))
                else:
                    index.search(queries, k=3, ef=kind)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(kind,)) for kind in ("lexical", 10, "lexical", 50)]
    for t in threads:
        t.start()
    for i in range(10):
        index.add([f"n{i}"], np.ones((1, 8), dtype=np.float32), [Document(f"note {i}")])
    for t in threads:
        t.join()
    assert not errors and all(found == ["d4"] for found in lexical_hits)
    assert ids(index.search_lexical(["note"], 20)[0]) == [f"n{i}" for i in range(9, -1, -1)]
