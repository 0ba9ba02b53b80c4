"""Building an index from a corpus: resumable encoding, crash safety, and the model check."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from textmetric.data import Document
from textmetric.errors import InputError
from textmetric.index import ExactIndex, Index
from textmetric.index.building import add_documents, build_index, check_model, load_index_model, work_folder


def make_corpus(n):
    return {f"doc{i}": Document(f"document number {i} talks about topic {i % 7}", f"title {i}") for i in range(n)}


def test_a_built_index_searches_like_exact_search(tiny_model, tmp_path):
    corpus = make_corpus(60)
    index = build_index(tiny_model, corpus, tmp_path / "idx")
    exact = ExactIndex.build(tiny_model, corpus)
    queries = exact.embeddings([f"doc{i}" for i in range(0, 60, 6)])
    for approx, truth in zip(index.search(queries, k=5), exact.search(queries, k=5)):
        assert [d for d, _ in approx] == [d for d, _ in truth]


def test_build_records_the_model_identity_and_removes_its_work_folder(tiny_model, tiny_model_path, tmp_path):
    build_index(tiny_model, make_corpus(5), tmp_path / "idx", model_name=tiny_model_path)
    loaded = Index.load(tmp_path / "idx")
    assert loaded.model["name"] == str(tiny_model_path.resolve())
    assert len(loaded.model["weights_sha256"]) == 64 and loaded.model["dim"] == 32
    assert not work_folder(tmp_path / "idx").exists()


def test_an_empty_corpus_is_a_clear_error(tiny_model, tmp_path):
    with pytest.raises(InputError, match="corpus is empty"):
        build_index(tiny_model, {}, tmp_path / "idx")


def test_an_interrupted_build_resumes_encoding_only_the_missing_chunks(tiny_model, tmp_path, monkeypatch):
    import textmetric.index.building as indexing

    encoded = []
    real_encode = indexing.encode

    def counting_encode(model, texts, **kwargs):
        if len(encoded) == 3:
            raise KeyboardInterrupt  # Ctrl-C after three chunks
        encoded.append(len(texts))
        return real_encode(model, texts, **kwargs)

    monkeypatch.setattr(indexing, "encode", counting_encode)
    with pytest.raises(KeyboardInterrupt):
        build_index(tiny_model, make_corpus(50), tmp_path / "idx", chunk_size=10)
    assert not (tmp_path / "idx").exists()
    assert encoded == [10, 10, 10]

    encoded.clear()
    monkeypatch.setattr(indexing, "encode", lambda model, texts, **kw: encoded.append(len(texts)) or real_encode(
        model, texts, **kw))
    build_index(tiny_model, make_corpus(50), tmp_path / "idx", chunk_size=10)
    assert encoded == [10, 10]  # only the two chunks that were never finished
    assert len(Index.load(tmp_path / "idx")) == 50


def test_a_changed_corpus_does_not_reuse_old_chunks(tiny_model, tmp_path, monkeypatch):
    import textmetric.index.building as indexing

    real_encode = indexing.encode
    calls = []

    def stop_after_one(model, texts, **kwargs):
        calls.append(len(texts))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_encode(model, texts, **kwargs)

    monkeypatch.setattr(indexing, "encode", stop_after_one)
    with pytest.raises(KeyboardInterrupt):
        build_index(tiny_model, make_corpus(30), tmp_path / "idx", chunk_size=10)
    calls.clear()
    monkeypatch.setattr(indexing, "encode", lambda m, t, **kw: calls.append(len(t)) or real_encode(m, t, **kw))
    corpus = make_corpus(30)
    corpus["doc0"] = Document("a different first document")
    build_index(tiny_model, corpus, tmp_path / "idx", chunk_size=10)
    assert calls == [10, 10, 10]


def test_adding_documents_reports_added_and_replaced(tiny_model, tmp_path):
    index = build_index(tiny_model, make_corpus(10), tmp_path / "idx")
    added, replaced = add_documents(index, tiny_model, {"doc1": Document("new"), "extra": Document("more")})
    assert (added, replaced, len(index)) == (1, 1, 11)


def test_a_model_with_other_weights_is_refused(tiny_model, tmp_path):
    import torch

    index = build_index(tiny_model, make_corpus(5), tmp_path / "idx")
    with torch.no_grad():
        next(tiny_model.parameters()).add_(1.0)
    with pytest.raises(InputError, match="weights .* differ from those the index was built with"):
        check_model(index, tiny_model)


def test_a_model_of_another_dimension_is_refused(tiny_model, tmp_path):
    index = Index(48)
    with pytest.raises(InputError, match="embeds in 32 dimensions but the index holds 48"):
        check_model(index, tiny_model)


def test_the_index_model_is_loaded_from_the_manifest(tiny_model, tiny_model_path, tmp_path):
    build_index(tiny_model, make_corpus(5), tmp_path / "idx", model_name=tiny_model_path)
    model = load_index_model(Index.load(tmp_path / "idx"))
    assert model.get_embedding_dimension() == 32


# -- crashes -------------------------------------------------------------------------------------

SAVE_SCRIPT = textwrap.dedent("""
    import sys, time, numpy as np
    from pathlib import Path
    import textmetric.index as ix
    import textmetric.index.folder as folder
    import textmetric.atomic as atomic
    target, point, signal_file = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])

    def pause():
        signal_file.write_text("ready")
        time.sleep(60)

    if point == "writing":          # graph written, documents not yet
        real = folder.file_digest
        folder.file_digest = lambda p: (pause() if p.name == "hnsw.bin" else None) or real(p)
    elif point == "before-swap":    # the new folder is complete, not yet in place
        real_swap = atomic.replace_folder
        atomic.replace_folder = lambda new, t: (pause(), real_swap(new, t))
    elif point == "between-renames":  # a file system without atomic exchange, killed between its two renames
        atomic._exchange = lambda a, b: False
        import os
        real_rename = os.rename
        calls = []
        def rename(a, b):
            real_rename(a, b)
            calls.append(a)
            if len(calls) == 1:
                pause()
        atomic.os.rename = rename
    index = ix.Index.load(target)
    rng = np.random.default_rng(1)
    index.add([f"new{i}" for i in range(30)], rng.normal(size=(30, 8)).astype(np.float32))
    index.save(target)
""")


def saved_index_and_script(tmp_path):
    """A saved 20-document index, and the script that adds 30 documents to it and saves."""
    target = tmp_path / "idx"
    old = Index(8)
    old.add([f"d{i}" for i in range(20)], np.random.default_rng(0).normal(size=(20, 8)).astype(np.float32))
    old.save(target)
    script = tmp_path / "save.py"
    script.write_text(SAVE_SCRIPT)
    return target, script


@pytest.mark.parametrize("point", ["writing", "before-swap", "between-renames"])
def test_killing_a_save_leaves_the_previous_index_loadable_and_complete(tmp_path, point):
    target, script = saved_index_and_script(tmp_path)
    flag = tmp_path / "paused"
    proc = subprocess.Popen([sys.executable, str(script), str(target), point, str(flag)])
    try:
        deadline = time.time() + 60
        while not flag.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert flag.exists(), "the save never reached its pause point"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    loaded = Index.load(target)
    assert len(loaded) == 20 and set(loaded.ids) == {f"d{i}" for i in range(20)}


def test_killing_saves_at_random_moments_never_leaves_a_mix(tmp_path):
    target, script = saved_index_and_script(tmp_path)
    rng = np.random.default_rng(3)
    for _ in range(6):
        proc = subprocess.Popen([sys.executable, str(script), str(target), "none", str(tmp_path / "unused")])
        time.sleep(float(rng.uniform(0.2, 1.5)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert len(Index.load(target)) in (20, 50)  # the old index or the new one, never a mix


def test_killing_a_build_keeps_finished_chunks_for_the_next_run(tiny_model_path, tmp_path):
    from conftest import write_jsonl

    corpus = write_jsonl(tmp_path / "corpus.jsonl", [{"_id": f"d{i}", "text": f"text number {i} " * 10}
                                                     for i in range(600)])
    out = tmp_path / "idx"
    command = [sys.executable, "-m", "textmetric", "index", "--corpus", str(corpus), "--output", str(out),
               "--model", str(tiny_model_path), "--chunk-size", "20"]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    work = work_folder(out)
    deadline = time.time() + 120
    while len(list(work.glob("chunk-*.npy"))) < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    kept = len(list(work.glob("chunk-*.npy")))
    assert kept >= 2
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "resumed an interrupted build" in done.stderr
    assert len(Index.load(out)) == 600 and not work.exists()
