"""`textmetric serve`: the JSON API against the CLI and the Python API, bad input, writes and their key,
micro-batching, and searches running while documents come and go."""

from __future__ import annotations

import json
import re
import shutil
import threading
import time

import numpy as np
import pytest

from conftest import write_jsonl

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

import textmetric as tm  # noqa: E402
from textmetric.serve.app import create_app  # noqa: E402
from textmetric.serve.batching import QueryBatcher, encode_batch  # noqa: E402
from textmetric.serve.schema import MAX_K  # noqa: E402
from textmetric.serve.server import running  # noqa: E402

KEY = "test-key-0123456789"
QUERIES = {"q1": "animals that purr", "q2": "a programming language", "q3": "how to bake bread"}
CORPUS = [
    {"_id": "d1", "title": "Cats", "text": "Cats are small furry animals that purr."},
    {"_id": "d2", "title": "Dogs", "text": "Dogs bark and love to fetch sticks."},
    {"_id": "d3", "title": "Python", "text": "Python is a programming language."},
    {"_id": "d4", "title": "", "text": "The moon orbits the earth every month."},
    {"_id": "d5", "title": "Bread", "text": "Bake bread with flour, water and yeast."},
    {"_id": "d6", "title": "Rust", "text": "Rust is a language for programming systems."},
    {"_id": "d7", "title": "Lions", "text": "Lions are large animals that roar."},
    {"_id": "d8", "title": "Cake", "text": "Bake a cake with eggs, flour and sugar."},
]


@pytest.fixture(scope="module")
def built_index(tmp_path_factory, tiny_model_path):
    """An index of CORPUS with a BM25 side, built by the tiny model (never changed: tests write to copies)."""
    folder = tmp_path_factory.mktemp("serve")
    corpus = write_jsonl(folder / "corpus.jsonl", CORPUS)
    tm.build_index(tm.Encoder.load(tiny_model_path), corpus, folder / "index", model_name=tiny_model_path,
                   lexical=tm.LexicalSettings())
    return folder / "index"


@pytest.fixture(scope="module")
def encoder(built_index):
    return tm.load_index_model(tm.Index.load(built_index))


@pytest.fixture
def index_dir(built_index, tmp_path):
    """A copy of the built index, for a test that changes it."""
    return shutil.copytree(built_index, tmp_path / "index")


@pytest.fixture(scope="module")
def reader(built_index, encoder):
    """The service over the built index, writes off."""
    with TestClient(create_app(built_index, model=encoder)) as client:
        yield client


@pytest.fixture
def writer(index_dir, encoder):
    """The service over a copy of the index, writes on with KEY."""
    with TestClient(create_app(index_dir, model=encoder, api_key=KEY)) as client:
        yield client


def hits_of(answer: dict) -> dict[str, list[tuple[str, float]]]:
    return {r["query_id"]: [(h["doc_id"], h["score"]) for h in r["hits"]] for r in answer["results"]}


# -- the same numbers as the CLI and the Python API ----------------------------------------------------------


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_the_api_answers_the_ids_and_scores_of_the_cli_and_the_retriever(built_index, encoder, cli, tmp_path, mode):
    queries_file = write_jsonl(tmp_path / "queries.jsonl", [{"_id": q, "text": t} for q, t in QUERIES.items()])
    code, out, _ = cli("search", "--index", built_index, "--queries", queries_file, "-k", 5, "--mode", mode, "--json")
    assert code == 0
    from_cli = {r["query_id"]: [(h["doc_id"], h["score"]) for h in r["hits"]] for r in map(json.loads, out.splitlines())}
    index = tm.Index.load(built_index)
    run = tm.Retriever(None if mode == "lexical" else tm.load_index_model(index), index, mode=mode).search(QUERIES, k=5)
    from_python = {qid: list(scores.items()) for qid, scores in run.items()}
    with TestClient(create_app(built_index)) as client:  # the model the manifest names, loaded by the service
        answer = client.post("/search", json={"queries": QUERIES, "k": 5, "mode": mode}).json()
    assert hits_of(answer) == from_cli == from_python
    assert all(from_cli.values())


def test_one_query_is_answered_as_query_0_with_titles_texts_and_what_the_score_is(reader):
    answer = reader.post("/search", json={"query": "animals that purr", "k": 3}).json()
    assert answer["score_kind"] == "cosine" and answer["mode"] == "dense" and answer["warnings"] == []
    (result,) = answer["results"]
    assert result["query_id"] == "0" and result["query"] == "animals that purr"
    assert [h["rank"] for h in result["hits"]] == [1, 2, 3]
    first = {d["_id"]: d for d in CORPUS}[result["hits"][0]["doc_id"]]
    assert (result["hits"][0]["title"], result["hits"][0]["text"]) == (first["title"], first["text"])


@pytest.mark.parametrize("options, kind", [({"mode": "lexical"}, "bm25"), ({"mode": "hybrid"}, "score-fusion"),
                                           ({"mode": "hybrid", "fusion": "rrf"}, "rrf")])
def test_each_mode_says_what_its_scores_are(reader, options, kind):
    assert reader.post("/search", json={"query": "bake bread", **options}).json()["score_kind"] == kind


def test_a_snippet_cuts_each_text_as_the_cli_does(reader):
    hit = reader.post("/search", json={"query": "cats", "k": 1, "snippet": 12}).json()["results"][0]["hits"][0]
    assert len(hit["text"]) <= 12 and hit["text"].endswith("...")


def test_a_request_ef_leaves_the_index_default_alone(reader, built_index):
    plain = reader.post("/search", json={"query": "cats", "k": 8}).json()
    deep = reader.post("/search", json={"query": "cats", "k": 8, "ef": 500}).json()
    assert hits_of(deep) == hits_of(plain)
    assert reader.get("/info").json()["ef"] == tm.Index.load(built_index).ef


def test_a_20000_character_query_is_truncated_as_encoding_truncates_it_with_a_warning(reader, encoder, built_index):
    query = "bread flour yeast " * 1112  # 20,016 characters
    answer = reader.post("/search", json={"query": query, "k": 3}).json()
    assert len(answer["warnings"]) == 1 and "truncated to the model's max_seq_length of 128" in answer["warnings"][0]
    index = tm.Index.load(built_index)
    assert hits_of(answer)["0"] == list(tm.Retriever(encoder, index).search([query], k=3)["0"].items())


# -- bad input ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("body, status, says", [
    ({"query": ""}, 422, "query: the query is empty"),
    ({"query": "   "}, 422, "query: the query is empty"),
    ({"queries": {"a": "cats", "b": ""}}, 422, "query 'b' is empty"),
    ({"queries": {}}, 422, "no queries"),
    ({}, 422, "give 'query' (one text) or 'queries'"),
    ({"query": "cats", "queries": {"a": "dogs"}}, 422, "one of them"),
    ({"query": "cats", "k": 0}, 422, "k: Input should be greater than or equal to 1"),
    ({"query": "cats", "k": -3}, 422, "k: Input should be greater than or equal to 1"),
    ({"query": "cats", "k": MAX_K + 1}, 422, f"k: Input should be less than or equal to {MAX_K}"),
    ({"query": "cats", "k": "10"}, 422, "k: Input should be a valid integer"),
    ({"query": 42}, 422, "query: Input should be a valid string"),
    ({"queries": ["cats"]}, 422, "queries: Input should be a valid dictionary"),
    ({"query": "cats", "mode": "semantic"}, 422, "mode: Input should be 'dense', 'lexical' or 'hybrid'"),
    ({"query": "cats", "fusion": "max"}, 422, "fusion: Input should be 'rrf' or 'score'"),
    ({"query": "cats", "alpha": 2}, 422, "alpha: Input should be less than or equal to 1"),
    ({"query": "cats", "top_k": 5}, 422, "top_k: Extra inputs are not permitted"),
    ({"query": "cats", "filter": "year=2020"}, 422, "filter: Input should be a valid dictionary"),
    ({"query": "cats", "filter": {"genre": {"$near": 2}}}, 400, "unknown operator"),
    ({"query": "x" * 100_001}, 422, "the limit is 100,000"),
])
def test_bad_search_input_is_a_4xx_json_error_naming_the_problem(reader, body, status, says):
    response = reader.post("/search", json=body)
    assert response.status_code == status
    assert says in response.json()["error"]
    assert "Traceback" not in response.text


def test_a_filter_on_an_unknown_field_is_a_400_naming_it(reader):
    response = reader.post("/search", json={"query": "cats", "filter": {"no_such_field": 1}})
    assert response.status_code == 400 and "no_such_field" in response.json()["error"]


def test_documents_added_with_fields_are_found_through_filters_in_every_mode(writer, index_dir):
    added = writer.post("/documents", headers={"X-API-Key": KEY}, json=[
        {"_id": "p1", "title": "Owls", "text": "Owls hunt at night.", "year": 2020, "lang": "en"},
        {"_id": "p2", "title": "Owls", "text": "Owls sleep by day.", "metadata": {"year": 1999, "lang": "de"}}])
    assert added.status_code == 200
    assert writer.get("/documents/p2").json()["fields"] == {"year": 1999, "lang": "de"}
    assert tm.Index.load(index_dir).document("p1").fields == {"year": 2020, "lang": "en"}
    for mode in ("dense", "lexical", "hybrid"):
        answer = writer.post("/search", json={"query": "owls", "mode": mode, "filter": {"year": {"$gte": 2000}}})
        assert [h["doc_id"] for h in answer.json()["results"][0]["hits"]] == ["p1"], mode
        assert answer.json()["results"][0]["hits"][0]["fields"] == {"year": 2020, "lang": "en"}
    wrong = writer.post("/search", json={"query": "owls", "filter": {"year": "2020"}})
    assert wrong.status_code == 400 and "year" in wrong.json()["error"]


@pytest.mark.parametrize("content, says", [(b"{\"query\": ", "malformed JSON"), (b"[1, 2", "malformed JSON"),
                                           (b"not json at all", "malformed JSON"), (b"", "Field required"),
                                           (b'{"query": "cats", "alpha": NaN}', "alpha: Input should be a finite"),
                                           (b'{"query": "cats", "rrf_k": Infinity}', "rrf_k: Input should be a finite")])
def test_malformed_json_is_a_4xx_json_error(reader, content, says):
    response = reader.post("/search", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and says in response.json()["error"]


def test_a_body_over_the_limit_is_refused_whether_it_declares_its_length_or_streams(index_dir, encoder):
    with TestClient(create_app(index_dir, model=encoder, max_body_bytes=1000)) as client:
        declared = client.post("/search", json={"query": "cats " * 300})
        streamed = client.post("/search", content=iter([b'{"query": "', b"cats " * 300, b'"}']),
                               headers={"Content-Type": "application/json"})
        fine = client.post("/search", json={"query": "cats"})
    for response in (declared, streamed):
        assert response.status_code == 413 and "over the limit of 1,000 bytes" in response.json()["error"]
    assert fine.status_code == 200


def test_a_mode_the_index_cannot_serve_is_a_400_saying_how_to_get_it(tmp_path, tiny_model_path, encoder):
    tm.build_index(encoder, {d["_id"]: tm.Document(d["text"], d["title"]) for d in CORPUS}, tmp_path / "dense",
                   model_name=tiny_model_path)
    with TestClient(create_app(tmp_path / "dense", model=encoder)) as client:
        response = client.post("/search", json={"query": "cats", "mode": "hybrid"})
        assert client.get("/info").json()["modes"] == ["dense"]
    assert response.status_code == 400 and "index-lexical" in response.json()["error"]


def test_after_every_kind_of_bad_request_the_service_still_answers(reader):
    reader.post("/search", content=b"{", headers={"Content-Type": "application/json"})
    reader.post("/search", json={"query": "cats", "k": 0})
    reader.post("/search", json={"query": "cats", "filter": {"a": 1}})
    reader.get("/no/such/route")
    assert reader.get("/health").json() == {"status": "ok"}
    assert reader.post("/search", json={"query": "cats"}).status_code == 200


# -- documents, writes and the key ----------------------------------------------------------------------------


def test_a_document_is_read_by_id_and_an_unknown_one_is_a_404(reader):
    assert reader.get("/documents/d3").json() == {"doc_id": "d3", "title": "Python",
                                                  "text": "Python is a programming language.", "fields": {}}
    missing = reader.get("/documents/nope")
    assert missing.status_code == 404 and "nope" in missing.json()["error"]


def test_writes_are_off_without_an_api_key(reader):
    response = reader.post("/documents", json=[{"_id": "n1", "text": "new"}])
    assert response.status_code == 403 and "--api-key" in response.json()["error"]
    assert reader.request("DELETE", "/documents", json={"ids": ["d1"]}).status_code == 403
    assert reader.get("/info").json()["writes"] is False


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": f"Basic {KEY}"}, {"X-API-Key": KEY[:-1]}])
def test_a_write_without_the_right_key_is_a_401_and_changes_nothing(writer, index_dir, headers):
    response = writer.post("/documents", json=[{"_id": "n1", "text": "new"}], headers=headers)
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"
    assert "n1" not in tm.Index.load(index_dir)


def test_an_acknowledged_add_is_on_disk_and_found_by_the_next_search(writer, index_dir):
    response = writer.post("/documents", headers={"X-API-Key": KEY}, json=[
        {"_id": "n1", "title": "Owls", "text": "Owls are birds that hoot at night."},
        {"id": "d2", "title": "Dogs", "text": "Dogs are loyal animals."}])
    assert response.json() == {"added": 1, "replaced": 1, "documents": 9, "state": 1}
    on_disk = tm.Index.load(index_dir)
    assert len(on_disk) == 9 and on_disk.document("d2").text == "Dogs are loyal animals."
    found = writer.post("/search", json={"query": "birds that hoot", "mode": "lexical", "k": 1}).json()
    assert found["results"][0]["hits"][0]["doc_id"] == "n1" and found["state"] == 1


def test_an_acknowledged_delete_is_on_disk_and_names_the_ids_not_found(writer, index_dir):
    response = writer.request("DELETE", "/documents", json={"ids": ["d1", "d7", "nope"]},
                              headers={"Authorization": f"Bearer {KEY}"})
    assert response.json() == {"deleted": 2, "not_found": ["nope"], "documents": 6, "state": 1}
    assert "d1" not in tm.Index.load(index_dir) and writer.get("/documents/d1").status_code == 404
    hits = writer.post("/search", json={"query": "animals", "k": 10}).json()["results"][0]["hits"]
    assert {"d1", "d7"}.isdisjoint(h["doc_id"] for h in hits)


def test_a_write_waits_for_another_writer_then_says_the_service_is_busy(index_dir, encoder):
    with TestClient(create_app(index_dir, model=encoder, api_key=KEY, lock_timeout=0.2)) as client:
        with tm.write_lock(index_dir):  # as `textmetric add` holds it in another process
            busy = client.post("/documents", json=[{"_id": "n1", "text": "x"}], headers={"X-API-Key": KEY})
            unchanged = "n1" not in tm.Index.load(index_dir)
        done = client.post("/documents", json=[{"_id": "n1", "text": "x"}], headers={"X-API-Key": KEY})
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "5" and unchanged
    assert done.status_code == 200 and "n1" in tm.Index.load(index_dir)


@pytest.mark.parametrize("documents, says", [
    ([], "List should have at least 1 item"),
    ([{"_id": "a", "text": "x"}, {"_id": "a", "text": "y"}], "duplicate id"),
    ([{"_id": "", "text": "x"}], "empty id"),
    ([{"_id": "a"}], "[0].text: Field required"),
    ([{"_id": "a", "text": 5}], "[0].text: Input should be a valid string"),
    ([{"text": "x"}], "[0]._id: Field required"),
    ({"_id": "a", "text": "x"}, "Input should be a valid list"),
    ([{"_id": "a", "text": "x", "metadata": {"text": "y"}}], "'text' is both a column and a key of 'metadata'"),
])
def test_bad_documents_are_a_4xx_error_and_change_nothing(writer, index_dir, documents, says):
    response = writer.post("/documents", json=documents, headers={"X-API-Key": KEY})
    assert 400 <= response.status_code < 500 and says in response.json()["error"]
    assert len(tm.Index.load(index_dir)) == len(CORPUS)


def test_a_document_id_is_never_a_path(writer, index_dir):
    response = writer.post("/documents", json=[{"_id": "../../escape", "text": "x"}], headers={"X-API-Key": KEY})
    assert response.status_code == 200
    assert not (index_dir.parent.parent / "escape").exists()
    assert writer.get("/documents/../../escape").status_code in (404, 200)  # a lookup, never a file read
    assert writer.get("/documents/..%2F..%2Fescape").json()["doc_id"] == "../../escape"


def test_info_and_health(reader):
    info = reader.get("/info").json()
    assert info["documents"] == len(CORPUS) and info["modes"] == ["dense", "lexical", "hybrid"]
    assert info["space"] == "cosine" and info["model"]["backend"] == "torch" and info["version"] == tm.__version__
    assert info["limits"]["max_k"] == MAX_K
    assert reader.get("/health").json() == {"status": "ok"}


def test_no_cors_unless_asked_for(reader, index_dir, encoder):
    asked = {"Origin": "https://example.org"}
    assert "access-control-allow-origin" not in reader.get("/info", headers=asked).headers
    with TestClient(create_app(index_dir, model=encoder, cors_origins=["https://example.org"])) as client:
        assert client.get("/info", headers=asked).headers["access-control-allow-origin"] == "https://example.org"


def test_the_page_loads_nothing_from_elsewhere(reader):
    page = reader.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    for name in ("/", "/app.js", "/style.css"):
        text = reader.get(name).text
        assert "http://" not in text and "https://" not in text and "//cdn" not in text
    assert reader.get("/favicon.svg").headers["content-type"] == "image/svg+xml"


def test_the_openapi_document_lists_the_endpoints(reader):
    paths = reader.get("/openapi.json").json()["paths"]
    assert {"/search", "/documents", "/documents/{doc_id}", "/health", "/info"} <= set(paths)


# -- micro-batching -------------------------------------------------------------------------------------------


def encode_at_once(batcher: QueryBatcher, requests: list[list[str]]) -> dict[int, np.ndarray]:
    """Each request's embeddings, the requests sent together from threads, each marked under way as the
    service marks a search; then the batcher is closed."""
    results: dict[int, np.ndarray] = {}
    arrived = threading.Barrier(len(requests))

    def search(i: int) -> None:
        with batcher.visit():
            arrived.wait(timeout=10)
            results[i] = batcher.encode(requests[i]).embeddings

    threads = [threading.Thread(target=search, args=(i,)) for i in range(len(requests))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        batcher.close()
    return results


def test_concurrent_queries_are_encoded_in_one_batch_with_the_vectors_each_would_get_alone(encoder):
    texts = ["cats", "a programming language that is fast", "bread", "the moon and the earth"]
    batcher = QueryBatcher(encoder, max_wait=0.5)
    results = encode_at_once(batcher, [[text] for text in texts])
    assert batcher.batches == 1 and batcher.texts == len(texts)
    for i, text in enumerate(texts):
        np.testing.assert_allclose(results[i], encoder.encode_queries([text]), atol=1e-6)


def test_a_lone_query_does_not_wait_for_company_and_a_query_with_company_waits_at_most_the_bound(encoder):
    batcher = QueryBatcher(encoder, max_wait=1.0)
    try:
        batcher.encode(["warm up"])
        start = time.perf_counter()
        with batcher.visit():
            batcher.encode(["cats"])  # the only search under way: nothing to wait for
        alone = time.perf_counter() - start
        with batcher.visit(), batcher.visit():  # another search under way that never sends its query
            start = time.perf_counter()
            batcher.encode(["dogs"])
            waited = time.perf_counter() - start
    finally:
        batcher.close()
    assert alone < 1.0 and 1.0 <= waited < 1.0 + 2.0  # plus an encode on a busy machine
    assert batcher.batches == 3


def test_on_int8_each_request_gets_the_vectors_of_its_own_queries_alone_whatever_else_is_searched(tiny_model_path):
    # Dynamic int8 quantisation scales a batch by its own range: batched with others, a query's vector moves.
    encoder = tm.Encoder.load(tiny_model_path, backend="onnx-int8")
    requests = [["cats"], ["a programming language that is fast and safe", "bread"], ["the moon " * 20]]
    batcher = QueryBatcher(encoder, max_wait=0.5, lanes=2)
    results = encode_at_once(batcher, requests)
    assert batcher.batches == 1 and not encoder.batch_independent
    for i, texts in enumerate(requests):
        assert np.array_equal(results[i], encoder.encode_queries(texts))
    mixed = encoder.encode_queries([text for texts in requests for text in texts])
    assert not np.array_equal(mixed[:1], results[0])  # what one batch for all would have given


def test_a_batch_encoded_as_the_ray_encoder_encodes_it_gives_each_request_its_own_vectors_on_int8(tiny_model_path):
    encoder = tm.Encoder.load(tiny_model_path, backend="onnx-int8")
    requests = [["cats"], ["a programming language that is fast and safe", "bread"], ["the moon " * 20]]
    encoded = encode_batch(encoder, requests)
    assert [len(e.embeddings) for e in encoded] == [1, 2, 1] and [len(e.lengths) for e in encoded] == [1, 2, 1]
    for texts, rows in zip(requests, encoded):
        assert np.array_equal(rows.embeddings, encoder.encode_queries(texts))


def test_an_encoding_failure_reaches_every_request_of_its_batch_and_the_batcher_goes_on(encoder, monkeypatch):
    batcher = QueryBatcher(encoder, max_wait=0)
    try:
        with monkeypatch.context() as patch:
            patch.setattr(encoder, "encode_queries", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
            with pytest.raises(RuntimeError, match="boom"):
                batcher.encode(["cats"])
        assert batcher.encode(["cats"]).embeddings.shape == (1, encoder.dim)
    finally:
        batcher.close()


# -- searches while documents come and go ---------------------------------------------------------------------


def test_searches_during_writes_see_each_write_whole_and_every_acknowledged_one(index_dir, encoder):
    """Readers search without pause while a writer adds batches of three documents and deletes the one before.

    A search must hold all three documents of a batch or none of them; it must hold every batch added
    (acknowledged) before it started and not deleted while it ran; and none whose deletion was acknowledged
    before it started.
    """
    batches, size = 5, 3
    added: dict[int, float] = {}      # batch -> when its add was acknowledged
    delete_sent: dict[int, float] = {}
    deleted: dict[int, float] = {}    # batch -> when its delete was acknowledged
    seen: list[tuple[float, float, set[str]]] = []
    errors: list[BaseException] = []
    done = threading.Event()

    with running(create_app(index_dir, model=encoder, api_key=KEY, poll=0)) as url:
        def read(mode: str) -> None:
            client = tm.Client(url)
            try:
                for _ in range(400):  # bounded in requests, and by the writer finishing
                    if done.is_set():
                        break
                    start = time.monotonic()
                    run = client.search(["zebras"], k=MAX_K, mode=mode)
                    seen.append((start, time.monotonic(), set(run["0"])))
            except BaseException as error:
                errors.append(error)

        def write() -> None:
            client = tm.Client(url, api_key=KEY)
            try:
                for batch in range(batches):
                    client.add({f"w{batch}-{i}": {"title": "", "text": f"zebras of batch {batch}, number {i}"}
                                for i in range(size)})
                    added[batch] = time.monotonic()
                    if batch:
                        delete_sent[batch - 1] = time.monotonic()
                        assert client.delete([f"w{batch - 1}-{i}" for i in range(size)]) == []
                        deleted[batch - 1] = time.monotonic()
            except BaseException as error:
                errors.append(error)
            finally:
                done.set()

        threads = [threading.Thread(target=read, args=(mode,)) for mode in ("dense", "lexical", "dense", "hybrid")]
        threads.append(threading.Thread(target=write))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        final = tm.Client(url).search(["zebras"], k=MAX_K, mode="lexical")["0"]

    assert not errors, errors
    assert len(seen) > batches
    for start, end, ids in seen:
        for batch in range(batches):
            present = sum(f"w{batch}-{i}" in ids for i in range(size))
            assert present in (0, size), f"batch {batch} half there: {sorted(ids)}"
            if added.get(batch, np.inf) < start and delete_sent.get(batch, np.inf) > end:
                assert present == size, f"batch {batch}, acknowledged before the search, is missing"
            if deleted.get(batch, np.inf) < start:
                assert present == 0, f"batch {batch}, deleted before the search, came back"
    last = {f"w{batches - 1}-{i}" for i in range(size)}
    assert set(final) == last
    on_disk = tm.Index.load(index_dir)
    assert last <= set(on_disk.ids) and len(on_disk) == len(CORPUS) + size



def test_answers_on_a_kept_alive_connection_do_not_wait_for_a_delayed_ack(built_index, encoder):
    # With Nagle's algorithm on the server's sockets, each answer after the first on a connection
    # waits ~40 ms for the client's delayed ACK.
    import http.client
    import statistics

    with running(create_app(built_index, model=encoder, poll=0)) as url:
        host, port = url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port))
        times = []
        for _ in range(11):
            start = time.perf_counter()
            connection.request("GET", "/health")
            connection.getresponse().read()
            times.append(time.perf_counter() - start)
        connection.close()
    assert statistics.median(times[1:]) < 0.03


def test_shards_are_served_together_for_dense_search_and_refuse_writes(tmp_path, tiny_model_path, encoder):
    corpus = {d["_id"]: tm.Document(d["text"], d["title"]) for d in CORPUS}
    for i in range(2):
        tm.build_index(encoder, corpus, tmp_path / f"shard-{i}", model_name=tiny_model_path, shard=(i, 2))
    shards = [tmp_path / "shard-0", tmp_path / "shard-1"]
    with TestClient(create_app(shards, model=encoder, api_key=KEY)) as client:
        info = client.get("/info").json()
        answer = client.post("/search", json={"queries": QUERIES, "k": 3}).json()
        write = client.post("/documents", json=[{"_id": "n1", "text": "x"}], headers={"X-API-Key": KEY})
        lexical = client.post("/search", json={"query": "cats", "mode": "lexical"})
    assert info["documents"] == len(CORPUS) and info["modes"] == ["dense"] and info["writes"] is False
    assert sorted(i["shard"] for i in info["indexes"]) == ["0/2", "1/2"]
    expected = tm.Retriever(encoder, tm.load_indexes(shards)).search(QUERIES, k=3)
    assert hits_of(answer) == {qid: list(scores.items()) for qid, scores in expected.items()}
    assert write.status_code == 403 and "one index" in write.json()["error"]
    assert lexical.status_code == 400 and "per shard" in lexical.json()["error"]


@pytest.mark.parametrize("route", ["/docs", "/redoc"])
def test_the_api_docs_pages_load_their_scripts_from_the_service_itself(reader, route):
    page = reader.get(route)
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href|url)\s*[:=]\s*["\']([^"\']+)', page.text)
    assert sources and all(source.startswith("/") for source in sources)  # nothing from a CDN: works offline
    for source in sources:
        assert reader.get(source).status_code == 200, source


def test_hits_without_documents_carry_only_rank_id_and_score(reader):
    body = {"queries": QUERIES, "k": 5}
    whole = reader.post("/search", json=body).json()
    bare = reader.post("/search", json={**body, "with_documents": False}).json()
    assert hits_of(bare) == hits_of(whole)
    assert {tuple(sorted(hit)) for result in bare["results"] for hit in result["hits"]} == {("doc_id", "rank", "score")}
