"""The embedded stdlib dataset: deterministic, split by module, documents and queries of the documented shape."""

import importlib
import inspect
import json

import pytest

from textmetric.data import load_beir
from textmetric.demo.stdlib import (QUERY_PREFIX, build_stdlib, cache_folder, make_collection, split_docstring,
                                 split_group, stdlib, stdlib_collection, write_beir)
from textmetric.errors import InputError

SMALL = ("base64", "bisect", "csv", "difflib", "fnmatch", "glob", "heapq", "json", "shlex", "textwrap")


@pytest.fixture(scope="module")
def small():
    return build_stdlib(SMALL)


def _files(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_building_twice_gives_identical_bytes(small, tmp_path):
    write_beir(small, tmp_path / "a")
    write_beir(build_stdlib(SMALL), tmp_path / "b")
    first, second = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert set(first) == {"corpus.jsonl", "queries.jsonl", "qrels/train.tsv", "qrels/test.tsv", "manifest.json"}
    assert first == second


def test_train_and_test_queries_come_from_disjoint_modules(small):
    assert small.qrels["train"] and small.qrels["test"]
    assert not set(small.modules["train"]) & set(small.modules["test"])
    for split, qrels in small.qrels.items():
        for qid, judged in qrels.items():
            (doc_id,) = judged
            assert split_group(doc_id) in small.modules[split]
    assert not set(small.qrels["train"]) & set(small.qrels["test"])
    # every document is the answer to exactly one query, of one split
    answered = [d for qrels in small.qrels.values() for judged in qrels.values() for d in judged]
    assert sorted(answered) == sorted(small.corpus)


def _live_object(doc_id):
    """The module, class or function a document id names (the SMALL modules are safe to import here)."""
    parts = doc_id.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            obj = inspect.getattr_static(obj, name)
            obj = getattr(obj, "__func__", obj)
        return obj
    raise LookupError(doc_id)


def test_documents_are_name_signature_and_docstring_and_queries_are_summary_lines(small):
    words = lambda text: " ".join(text.split())  # noqa: E731
    for doc_id, doc in small.corpus.items():
        summary = small.queries[QUERY_PREFIX + doc_id]
        assert doc.title.startswith(doc_id)
        docstring = words(inspect.cleandoc(_live_object(doc_id).__doc__))
        assert docstring.endswith(words(summary + " " + doc.text))  # the summary, then the rest: nothing else
        assert 4 <= len(summary.split()) <= 30 and len(doc.text.split()) >= 5
    dumps = small.corpus["json.dumps"]
    assert dumps.title.startswith("json.dumps(obj, *, skipkeys=False")
    assert small.queries["q:json.dumps"] == "Serialize ``obj`` to a JSON formatted ``str``."
    assert dumps.text.startswith("If ``skipkeys`` is true")
    assert "Serialize ``obj``" not in dumps.text


def test_generic_short_and_duplicate_summaries_are_dropped():
    body = "\n\nA second paragraph that explains the details at some length."
    records = [
        {"id": "m.eq", "kind": "method", "signature": "", "doc": "Return self==value." + body},
        {"id": "m.short", "kind": "function", "signature": "()", "doc": "Does it." + body},
        {"id": "m.bare", "kind": "function", "signature": "()", "doc": "Compute the thing that is asked for."},
        {"id": "m.a", "kind": "function", "signature": "()", "doc": "Compress a block of data." + body},
        {"id": "n.b", "kind": "function", "signature": "()", "doc": "Compress a block of data." + body},
        {"id": "m.keep", "kind": "function", "signature": "(x)", "doc": "Parse a date from a string." + body},
        {"id": "n.keep", "kind": "function", "signature": "(y)",
         "doc": "n.keep(y) -> list\n\nReturn the list of all the things." + body},
    ]
    collection = make_collection(records)
    assert sorted(collection.corpus) == ["m.keep", "n.keep"]
    assert collection.queries["q:n.keep"] == "Return the list of all the things."  # the signature line is passed over
    assert collection.corpus["m.keep"].title == "m.keep(x)"


def test_a_long_first_paragraph_gives_its_first_sentence_as_the_summary():
    summary, rest = split_docstring("Read the file given. Then close it again\nwhen done with it.\n\nMore text here.")
    assert summary == "Read the file given."
    assert rest == "Then close it again when done with it.\n\nMore text here."


def test_one_module_cannot_be_split_by_module():
    records = [{"id": f"m.f{i}", "kind": "function", "signature": "()",
                "doc": f"Do thing number {i} for you.\n\nIt does it well and quickly enough."} for i in range(3)]
    with pytest.raises(InputError, match="at least two"):
        make_collection(records)


def test_modules_with_import_side_effects_are_skipped_and_nothing_reaches_our_streams(capfd):
    import sys

    before = set(sys.modules)
    # `this` prints when imported, `antigravity` opens a browser
    collection = build_stdlib(["this", "antigravity", "glob", "fnmatch"])
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert set(sys.modules) == before  # the scan imports in a child interpreter, never here
    assert {d.split(".")[0] for d in collection.corpus} == {"glob", "fnmatch"}


def test_stdlib_returns_a_split_like_any_beir_folder_and_reads_it_back_from_the_cache(tmp_path, monkeypatch):
    test = stdlib("test", modules=SMALL, cache_dir=tmp_path)
    train = stdlib("train", modules=SMALL, cache_dir=tmp_path)
    assert test.corpus == train.corpus and set(test.queries) == set(test.qrels)
    assert not set(test.queries) & set(train.queries)
    folder = cache_folder(SMALL, cache_dir=tmp_path)
    assert folder.parent == tmp_path and folder.name.startswith("stdlib-py3.")
    monkeypatch.setattr("textmetric.demo.stdlib.scan_stdlib", lambda *a, **k: pytest.fail("built again"))
    again = stdlib_collection(SMALL, cache_dir=tmp_path)
    assert again.split("test") == test


def test_an_altered_cache_is_built_again(tmp_path, caplog):
    stdlib_collection(SMALL, cache_dir=tmp_path)
    corpus = cache_folder(SMALL, cache_dir=tmp_path) / "corpus.jsonl"
    corpus.write_text(corpus.read_text().replace("json", "JSON"))
    rebuilt = stdlib_collection(SMALL, cache_dir=tmp_path)
    assert "json.dumps" in rebuilt.corpus and "altered" in caplog.text
    assert "JSON.dumps" not in corpus.read_text()


def test_export_demo_data_writes_a_beir_folder_that_load_beir_reads(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTMETRIC_CACHE", str(tmp_path / "cache"))
    code, _, err = cli("export-demo-data", "--output", tmp_path / "stdlib", "--quick")
    assert code == 0, err
    manifest = json.loads((tmp_path / "stdlib" / "manifest.json").read_text())
    for split in ("train", "test"):
        data = load_beir(tmp_path / "stdlib", split)
        assert len(data.queries) == len(data.qrels) == manifest["queries"][split]
        assert len(data.corpus) == manifest["documents"]
    assert f"{manifest['documents']} documents" in err


def test_export_demo_data_refuses_a_folder_that_is_not_empty(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTMETRIC_CACHE", str(tmp_path / "cache"))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("keep")
    code, _, err = cli("export-demo-data", "--output", tmp_path / "out")
    assert code == 2 and err.count("\n") == 1 and "not empty" in err
    assert (tmp_path / "out" / "mine.txt").read_text() == "keep"
