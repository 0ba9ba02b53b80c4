"""The Encoder: inference backends (torch, ONNX, ONNX int8), its worker pool, and truncation warnings."""

import json
import multiprocessing
import os

import numpy as np
import pytest

from conftest import build_tiny_model, warning_messages
from textmetric.errors import InputError
from textmetric.index import Index
from textmetric.encoding import Encoder

TEXTS = ["hello world", "a much longer sentence about retrieval, with many words to pad the others " * 3,
         "x", "short one", "the quick brown fox jumps over the lazy dog"] * 4


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny model of its own: the backends write their exports into its folder."""
    return build_tiny_model(tmp_path_factory.mktemp("backends"))


@pytest.fixture(scope="module")
def torch_vectors(model_dir):
    return Encoder.load(model_dir).encode(TEXTS, batch_size=3)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_onnx_encodes_like_torch(model_dir, torch_vectors):
    vectors = Encoder.load(model_dir, backend="onnx").encode(TEXTS, batch_size=3)
    assert vectors.dtype == np.float32 and cosines(vectors, torch_vectors).min() >= 0.999


def test_onnx_int8_encodes_close_to_torch(model_dir, torch_vectors):
    vectors = Encoder.load(model_dir, backend="onnx-int8").encode(TEXTS, batch_size=3)
    assert cosines(vectors, torch_vectors).min() >= 0.98


def test_int8_quantisation_leaves_the_root_logger_as_it_was(model_dir):
    import logging

    from textmetric.encoding.backends import export_onnx, quantize_int8

    root = logging.getLogger()
    saved = root.level, list(root.handlers)
    root.handlers.clear()  # as in a program that never configured logging
    try:
        quantize_int8(export_onnx(Encoder.load(model_dir).model, model_dir.parent / "plain.onnx"),
                      model_dir.parent / "int8.onnx")
        assert root.handlers == [] and root.level == saved[0]
    finally:
        root.handlers[:] = saved[1]


def test_the_onnx_export_is_cached_in_the_model_folder_and_reused(model_dir):
    first = Encoder.load(model_dir, backend="onnx-int8").onnx_path
    stamps = {p.name: p.stat().st_mtime_ns for p in (model_dir / "onnx").glob("*.onnx")}
    again = Encoder.load(model_dir, backend="onnx-int8").onnx_path
    assert first == again and first.parent == model_dir / "onnx"
    assert {p.name: p.stat().st_mtime_ns for p in (model_dir / "onnx").glob("*.onnx")} == stamps
    assert json.loads(first.with_suffix(".json").read_text())["backend"] == "onnx-int8"


def test_other_weights_get_their_own_export(tmp_path):
    a = build_tiny_model(tmp_path / "a", seed=1)
    b = build_tiny_model(tmp_path / "b", seed=2)
    path_a = Encoder.load(a, backend="onnx").onnx_path
    path_b = Encoder.load(b, backend="onnx").onnx_path
    assert path_a.name != path_b.name


def test_an_unknown_backend_is_a_clear_error(model_dir):
    with pytest.raises(InputError, match="unknown backend 'tensorrt'"):
        Encoder.load(model_dir, backend="tensorrt")


def test_parallel_onnx_batches_give_the_same_vectors(model_dir):
    one = Encoder.load(model_dir, backend="onnx").encode(TEXTS, batch_size=2)
    four = Encoder.load(model_dir, backend="onnx", workers=4).encode(TEXTS, batch_size=2)
    np.testing.assert_allclose(four, one, atol=1e-6)


def _new_processes(before: set) -> set:
    return set(multiprocessing.active_children()) - before


def test_multi_process_encoding_equals_one_process_and_leaving_the_encoder_stops_its_pool(model_dir, torch_vectors):
    before = set(multiprocessing.active_children())
    with Encoder.load(model_dir, workers=2) as encoder:
        vectors = encoder.encode(TEXTS, batch_size=3)
        pool = _new_processes(before)
        assert len(pool) == 2
    np.testing.assert_allclose(vectors, torch_vectors, atol=1e-6)
    assert _new_processes(before) == set()  # stopped and reaped


def test_a_new_worker_count_stops_the_old_pool(model_dir, torch_vectors):
    before = set(multiprocessing.active_children())
    encoder = Encoder.load(model_dir, workers=2)
    encoder.encode(TEXTS, batch_size=3)
    pool = _new_processes(before)
    encoder.workers = 1
    assert len(pool) == 2 and _new_processes(before) == set()
    np.testing.assert_allclose(encoder.encode(TEXTS, batch_size=3), torch_vectors, atol=1e-6)


def test_texts_longer_than_max_seq_length_are_counted_in_one_warning(model_dir, warnings_log):
    encoder = Encoder.load(model_dir, max_seq_length=8)
    encoder.encode(TEXTS, batch_size=3)
    encoder.encode(TEXTS, batch_size=3)  # the same texts again: no second warning
    messages = warning_messages(warnings_log)
    assert len(messages) == 1 and messages[0].startswith("8 of 20 texts are longer than max_seq_length 8 tokens")


def test_no_warning_when_every_text_fits(model_dir, warnings_log):
    Encoder.load(model_dir).encode(TEXTS, batch_size=3)
    assert warning_messages(warnings_log) == []


def test_max_seq_length_truncates(model_dir):
    short = Encoder.load(model_dir, max_seq_length=6).encode(["one two three four five six seven eight"])
    cut = Encoder.load(model_dir).encode(["one two three four"])  # [CLS] + 4 words + [SEP] = 6 tokens
    np.testing.assert_allclose(short, cut, atol=1e-6)


def test_threads_sharing_an_encoder_each_get_their_own_truncation(model_dir):
    # A fast tokenizer keeps its truncation setting between calls: unserialised, one thread's
    # untruncated length count and another's truncated encode trade settings mid-call.
    import threading

    encoder = Encoder.load(model_dir, max_seq_length=8)
    vectors, lengths = encoder.encode(TEXTS, batch_size=3), encoder.token_lengths(TEXTS)
    wrong = []

    def count():
        wrong.extend(n for _ in range(30) if (n := encoder.token_lengths(TEXTS)) != lengths)

    def embed():
        wrong.extend(v for _ in range(30) if not np.array_equal(v := encoder.encode(TEXTS, batch_size=3), vectors))

    threads = [threading.Thread(target=work) for work in (count, embed, count, embed)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert max(lengths) > 8 and not wrong


def test_a_max_seq_length_beyond_the_model_positions_is_refused(model_dir):
    with pytest.raises(InputError, match="outside what the model can read"):
        Encoder.load(model_dir, max_seq_length=4096)


# -- the index records its backend ------------------------------------------------------------

@pytest.fixture
def int8_index(cli, beir_dir, model_dir, tmp_path):
    out = tmp_path / "idx"
    code, _, err = cli("index", "--corpus", beir_dir, "--output", out, "--model", model_dir, "--backend",
                       "onnx-int8", "--max-seq-length", "64", "-q")
    assert code == 0, err
    return out


def test_the_manifest_records_the_backend_and_max_length(int8_index):
    model = Index.load(int8_index).model
    assert model["backend"] == "onnx-int8" and model["max_seq_length"] == 64


def test_searching_uses_the_index_backend_and_length_by_default(int8_index):
    from textmetric.index.building import load_index_model

    encoder = load_index_model(Index.load(int8_index))
    assert encoder.backend == "onnx-int8" and encoder.max_seq_length == 64


def test_searching_with_another_backend_of_the_same_model_warns_and_works(cli, int8_index):
    code, out, err = cli("search", "rabbit", "--index", int8_index, "--backend", "torch", "--json")
    assert code == 0 and json.loads(out)
    assert "built with the onnx-int8 backend and is searched with torch" in err


def test_the_cores_an_encoder_uses_follow_omp_num_threads_as_ray_sets_it_for_an_actor(monkeypatch):
    from textmetric.encoding.backends import cpu_count

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert cpu_count() == 1
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert cpu_count() == len(os.sched_getaffinity(0))
