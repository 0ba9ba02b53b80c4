"""The on-disk HNSW index: build, save, load, add, replace, delete, compact, and corruption."""

import json
import threading

import numpy as np
import pytest

from conftest import rewrite_manifest
from textmetric.data import Document
from textmetric.errors import InputError
from textmetric.index import FORMAT_VERSION, ExactIndex, Index


def random_unit(n, dim=16, seed=0):
    vectors = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def small_index(n=200, dim=16, seed=0, **kwargs):
    index = Index(dim, **kwargs)
    index.add([f"d{i}" for i in range(n)], random_unit(n, dim, seed),
              [Document(f"text {i}", f"title {i}") for i in range(n)])
    return index


def doc_ids(hits):
    return [doc for doc, _ in hits]


def test_search_finds_each_vector_as_its_own_nearest_neighbour():
    index = small_index()
    queries = random_unit(200)
    assert [hits[0][0] for hits in index.search(queries, k=1)] == [f"d{i}" for i in range(200)]


def test_search_agrees_with_exact_search_on_a_small_collection():
    index = small_index()
    exact = ExactIndex([f"d{i}" for i in range(200)], random_unit(200))
    queries = random_unit(20, seed=1)
    for approx, truth in zip(index.search(queries, k=10), exact.search(queries, k=10)):
        assert doc_ids(approx) == doc_ids(truth)
        np.testing.assert_allclose([s for _, s in approx], [s for _, s in truth], atol=1e-5)


def test_save_then_load_gives_identical_results(tmp_path):
    index = small_index()
    index.save(tmp_path / "idx")
    loaded = Index.load(tmp_path / "idx")
    queries = random_unit(30, seed=2)
    assert loaded.search(queries, k=7) == index.search(queries, k=7)
    assert (loaded.dim, loaded.space, loaded.ef, loaded.m, len(loaded)) == (16, "cosine", index.ef, 16, 200)
    assert loaded.document("d3") == Document("text 3", "title 3")


def test_the_manifest_records_what_hnswlib_forgets(tmp_path):
    small_index(space="ip", ef=42, m=8, ef_construction=50, model={"name": "m", "weights_sha256": "x"}).save(
        tmp_path / "idx")
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["format_version"] == FORMAT_VERSION
    assert (manifest["dim"], manifest["space"], manifest["count"]) == (16, "ip", 200)
    assert manifest["hnsw"]["ef"] == 42 and manifest["hnsw"]["M"] == 8 and manifest["hnsw"]["ef_construction"] == 50
    assert manifest["model"] == {"name": "m", "weights_sha256": "x"}
    assert Index.load(tmp_path / "idx").ef == 42


def test_k_is_clamped_to_the_live_document_count():
    index = small_index(n=5)
    [hits] = index.search(random_unit(1, seed=3), k=50)
    assert sorted(doc_ids(hits)) == [f"d{i}" for i in range(5)]


def test_adding_an_existing_id_replaces_its_vector_and_text():
    index = small_index(n=10)
    target = random_unit(1, seed=9)
    index.add(["d4"], target, [Document("new text")])
    assert len(index) == 10
    [hits] = index.search(target, k=1)
    assert hits[0][0] == "d4" and hits[0][1] == pytest.approx(1.0, abs=1e-5)
    assert index.document("d4") == Document("new text")


def test_adding_grows_the_graph_past_its_capacity():
    index = Index(16, capacity=4)
    index.add([f"d{i}" for i in range(50)], random_unit(50))
    assert len(index) == 50


def test_deleted_documents_never_come_back_from_a_search():
    index = small_index(n=50)
    deleted = [f"d{i}" for i in range(0, 50, 2)]
    assert index.delete(deleted) == []
    results = index.search(random_unit(50), k=25)
    assert all(not set(doc_ids(hits)) & set(deleted) for hits in results)
    assert len(index) == 25 and index.document("d0") is None


def test_deleting_unknown_ids_reports_them_and_changes_nothing():
    index = small_index(n=5)
    assert index.delete(["nope", "d1"]) == ["nope"]
    assert len(index) == 4


def test_deletions_survive_save_and_load(tmp_path):
    index = small_index(n=20)
    index.delete(["d1", "d2"])
    index.save(tmp_path / "idx")
    loaded = Index.load(tmp_path / "idx")
    assert len(loaded) == 18 and "d1" not in loaded
    assert "d1" not in doc_ids(loaded.search(random_unit(20)[1:2], k=18)[0])


def test_compact_keeps_live_documents_and_drops_deleted_vectors():
    index = small_index(n=30)
    index.delete([f"d{i}" for i in range(10)])
    compacted = index.compact()
    assert len(compacted) == 20 and compacted.element_count == 20
    queries = random_unit(30)[10:]
    assert [h[0][0] for h in compacted.search(queries, k=1)] == [f"d{i}" for i in range(10, 30)]


def test_duplicate_ids_in_one_batch_are_named():
    with pytest.raises(InputError, match="duplicate id.*d1"):
        Index(16).add(["d1", "d2", "d1"], random_unit(3))


def test_embeddings_of_the_wrong_dimension_are_refused():
    with pytest.raises(InputError, match="dimension 16"):
        Index(16).add(["a"], np.ones((1, 8), dtype=np.float32))


def test_ties_are_broken_by_doc_id_descending():
    index = Index(4)
    index.add(["d1", "d10", "d9"], np.tile(np.array([[1, 0, 0, 0]], dtype=np.float32), (3, 1)))
    [hits] = index.search(np.array([[1, 0, 0, 0]], dtype=np.float32), k=3)
    assert doc_ids(hits) == ["d9", "d10", "d1"]


def test_many_threads_can_search_at_once():
    index = small_index(n=300)
    queries = random_unit(40, seed=5)
    expected = index.search(queries, k=5)
    results, errors = [], []

    def worker():
        try:
            for _ in range(10):
                results.append(index.search(queries, k=5))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and all(r == expected for r in results)


def test_a_search_during_an_add_waits_and_sees_a_consistent_index():
    index = small_index(n=100)
    new = random_unit(2000, seed=7)
    results = []

    def adder():
        index.add([f"n{i}" for i in range(2000)], new)

    thread = threading.Thread(target=adder)
    thread.start()
    for _ in range(20):
        results.append(index.search(random_unit(5, seed=8), k=3))
    thread.join()
    assert all(len(hits) == 3 for batch in results for hits in batch)
    assert len(index) == 2100


# -- corrupt or foreign folders ------------------------------------------------------------------

@pytest.fixture
def saved(tmp_path):
    small_index(n=20).save(tmp_path / "idx")
    return tmp_path / "idx"


def test_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="no such index folder"):
        Index.load(tmp_path / "nope")


def test_a_folder_without_a_manifest_is_not_an_index(tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(InputError, match="not a textmetric index"):
        Index.load(tmp_path / "x")


def test_a_truncated_graph_is_detected(saved):
    graph = saved / "hnsw.bin"
    graph.write_bytes(graph.read_bytes()[:-100])
    with pytest.raises(InputError, match="hnsw.bin does not match its checksum"):
        Index.load(saved)


def test_a_missing_docs_file_is_detected(saved):
    (saved / "docs.sqlite").unlink()
    with pytest.raises(InputError, match="missing docs.sqlite"):
        Index.load(saved)


def test_an_unknown_format_version_is_refused(saved):
    manifest = json.loads((saved / "manifest.json").read_text())
    manifest["format_version"] = 99
    (saved / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="format version 99 is not supported"):
        Index.load(saved)


def test_a_manifest_that_disagrees_with_the_graph_is_refused(saved):
    rewrite_manifest(saved, lambda manifest: manifest["hnsw"].update(elements=21))
    with pytest.raises(InputError, match="holds 20 vectors but manifest.json says 21"):
        Index.load(saved)


def test_a_malformed_manifest_is_a_clear_error(saved):
    (saved / "manifest.json").write_text("{not json")
    with pytest.raises(InputError, match="unreadable manifest"):
        Index.load(saved)


def test_saving_over_a_folder_that_is_not_an_index_is_refused(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"meow")
    with pytest.raises(InputError, match="not a textmetric index"):
        small_index(n=3).save(tmp_path / "photos")
    assert (tmp_path / "photos" / "cat.jpg").exists()


def test_saving_over_an_index_replaces_it_and_leaves_no_temporary_folder(saved):
    small_index(n=7).save(saved)
    assert len(Index.load(saved)) == 7
    assert sorted(p.name for p in saved.parent.iterdir()) == ["idx"]


def test_concurrent_searches_with_different_ef_each_get_their_own_depth():
    index = small_index(n=2000, dim=8)
    queries = random_unit(50, dim=8, seed=4)
    expected = {ef: index.search(queries, k=10, ef=ef) for ef in (10, 400)}
    results, errors = [], []

    def worker(ef):
        try:
            for _ in range(15):
                results.append((ef, index.search(queries, k=10, ef=ef)))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(ef,)) for ef in (10, 400, 10, 400)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and all(found == expected[ef] for ef, found in results)


def test_a_saved_index_has_the_permissions_of_a_plain_folder(tmp_path):
    import os
    import stat

    mask = os.umask(0o022)
    try:
        small_index(n=3).save(tmp_path / "idx")
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "idx").stat().st_mode) == 0o755  # not mkdtemp's owner-only 0700
