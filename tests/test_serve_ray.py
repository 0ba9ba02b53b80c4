"""`textmetric serve --ray`: the service on Ray Serve answers as the one-process service over the same shard
folders, routes writes to the shard that owns each id, and refuses what the local service refuses.

Ray Serve takes ~35 s from start to ready here, so one application serves every test of this module: the tests
that write come after those that compare answers, in file order, and compare against a local service over the
same folders as they are on disk then.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
pytest.importorskip("ray")

from fastapi.testclient import TestClient  # noqa: E402

import textmetric as tm  # noqa: E402
from textmetric.index.shards import shard_of  # noqa: E402
from textmetric.serve.app import create_app  # noqa: E402

KEY = "test-key-0123456789"
CORPUS = [
    {"_id": "d1", "title": "Cats", "text": "Cats are small furry animals that purr.", "kind": "animal"},
    {"_id": "d2", "title": "Dogs", "text": "Dogs bark and love to fetch sticks.", "kind": "animal"},
    {"_id": "d3", "title": "Python", "text": "Python is a programming language.", "kind": "code"},
    {"_id": "d4", "title": "", "text": "The moon orbits the earth every month.", "kind": "sky"},
    {"_id": "d5", "title": "Bread", "text": "Bake bread with flour, water and yeast.", "kind": "food"},
    {"_id": "d6", "title": "Rust", "text": "Rust is a language for programming systems.", "kind": "code"},
    {"_id": "d7", "title": "Lions", "text": "Lions are large animals that roar.", "kind": "animal"},
    {"_id": "d8", "title": "Cake", "text": "Bake a cake with eggs, flour and sugar.", "kind": "food"},
]
QUERIES = {"q1": "animals that purr", "q2": "a programming language", "q3": "how to bake bread"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def shards(tmp_path_factory, tiny_model_path):
    """CORPUS in two shard folders (0/2 and 1/2) with BM25 sides, built by the tiny model."""
    folder = tmp_path_factory.mktemp("ray-shards")
    corpus = {d["_id"]: tm.Document(d["text"], d["title"], {"kind": d["kind"]}) for d in CORPUS}
    encoder = tm.Encoder.load(tiny_model_path)
    for i in range(2):
        tm.build_index(encoder, corpus, folder / f"shard-{i}", model_name=tiny_model_path, shard=(i, 2),
                       lexical=tm.LexicalSettings())
    return [folder / "shard-0", folder / "shard-1"]


@pytest.fixture(scope="module")
def on_ray(ray_cluster, shards):
    """The service on Ray over the shards, writes on with KEY (waiting 1 s at most for another writer): one
    application for the whole module."""
    from textmetric.distributed import serve_on_ray

    with serve_on_ray(shards, port=free_port(), api_key=KEY, encoder_cpus=0.25,
                      searcher_cpus=0.25, poll=0.2, lock_timeout=1.0) as service:
        yield service


@pytest.fixture(scope="module")
def ray_client(on_ray):
    import httpx

    with httpx.Client(base_url=on_ray.url, timeout=60, trust_env=False) as client:
        yield client


def local(shards):
    """The one-process service over the same folders as they are now."""
    return TestClient(create_app(shards))


def hits_of(answer: dict) -> dict[str, list[tuple[str, float]]]:
    return {r["query_id"]: [(h["doc_id"], h["score"]) for h in r["hits"]] for r in answer["results"]}


def without_timing(answer: dict) -> dict:
    return {key: value for key, value in answer.items() if key != "took_ms"}


SEARCHES = [
    {"queries": QUERIES, "k": 3},
    {"query": "animals that purr", "k": 8, "snippet": 20},
    {"queries": QUERIES, "k": 5, "filter": {"kind": "food"}},
    {"queries": QUERIES, "k": 4, "ef": 50, "filter": {"kind": {"$in": ["animal", "code"]}}},
]
BAD = [
    {"query": "cats", "k": 0},
    {"query": "cats", "mode": "lexical"},
    {"query": "cats", "mode": "hybrid"},
    {"query": "cats", "filter": {"no_such_field": 1}},
    {"query": "cats", "filter": {"kind": {"$near": 2}}},
    {"queries": {"a": ""}},
]


def test_answers_are_those_of_the_local_service_over_the_same_shards(shards, ray_client):
    with local(shards) as here:
        expected = [without_timing(here.post("/search", json=body).json()) for body in SEARCHES]
    answers = [without_timing(ray_client.post("/search", json=body).json()) for body in SEARCHES]
    assert answers == expected
    assert [len(hits) for hits in hits_of(answers[0]).values()] == [3, 3, 3]
    assert {h["fields"]["kind"] for r in answers[2]["results"] for h in r["hits"]} == {"food"}


def test_bad_input_gets_the_status_and_json_error_of_the_local_service(shards, ray_client):
    with local(shards) as here:
        expected = [(r.status_code, r.json()) for r in (here.post("/search", json=body) for body in BAD)]
        expected.append((lambda r: (r.status_code, r.json()))(here.get("/documents/nope")))
    answers = [(r.status_code, r.json()) for r in (ray_client.post("/search", json=body) for body in BAD)]
    answers.append((lambda r: (r.status_code, r.json()))(ray_client.get("/documents/nope")))
    assert answers == expected
    assert [status for status, _ in answers] == [422, 400, 400, 400, 400, 422, 404]
    assert "per shard" in answers[1][1]["error"]


def test_info_and_the_page_are_served(ray_client):
    info = ray_client.get("/info").json()
    assert info["documents"] == len(CORPUS) and info["modes"] == ["dense"] and info["writes"] is True
    assert sorted(i["shard"] for i in info["indexes"]) == ["0/2", "1/2"]
    assert info["ray"] == {"encoder_replicas": 1, "searcher_replicas": 1, "shards": 2}
    page = ray_client.get("/")
    assert page.status_code == 200 and "<html" in page.text.lower()


def test_an_added_document_lands_in_its_owning_shard_and_the_next_search_finds_it(shards, ray_client):
    new = [{"_id": "n1", "title": "Owls", "text": "Owls hoot in the night.", "kind": "animal"},
           {"_id": "n2", "title": "Tea", "text": "Brew tea with hot water.", "kind": "food"}]
    refused = ray_client.post("/documents", json=new)
    added = ray_client.post("/documents", json=new, headers={"X-API-Key": KEY})
    assert refused.status_code == 401
    assert added.status_code == 200, added.text
    assert added.json()["added"] == 2 and added.json()["documents"] == len(CORPUS) + 2
    for doc_id in ("n1", "n2"):
        owner = shard_of(doc_id, 2)
        assert doc_id in tm.Index.load(shards[owner]) and doc_id not in tm.Index.load(shards[1 - owner])
    answer = ray_client.post("/search", json={"query": "owls hoot at night", "k": 10}).json()
    assert "n1" in [h["doc_id"] for h in answer["results"][0]["hits"]]
    assert ray_client.get("/documents/n2").json()["title"] == "Tea"
    with local(shards) as here:
        assert hits_of(ray_client.post("/search", json=SEARCHES[0]).json()) == \
            hits_of(here.post("/search", json=SEARCHES[0]).json())


def test_a_write_kept_waiting_by_another_writer_is_a_503_and_changes_nothing(shards, ray_client):
    owner = shards[shard_of("n3", 2)]
    with tm.write_lock(owner):  # as `textmetric add` holds it in another process
        busy = ray_client.post("/documents", json=[{"_id": "n3", "text": "Whales sing.", "kind": "animal"}],
                               headers={"X-API-Key": KEY})
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "5", busy.text
    assert "Traceback" not in busy.text and "n3" not in tm.Index.load(owner)


def test_a_delete_removes_the_document_from_its_shard_and_names_the_ids_not_found(shards, ray_client):
    gone = ray_client.request("DELETE", "/documents", json={"ids": ["d3", "nope"]}, headers={"X-API-Key": KEY})
    assert gone.status_code == 200, gone.text
    assert gone.json()["deleted"] == 1 and gone.json()["not_found"] == ["nope"]
    assert all("d3" not in tm.Index.load(path) for path in shards)
    assert ray_client.get("/documents/d3").status_code == 404
    answer = ray_client.post("/search", json={"query": "a programming language", "k": 20}).json()
    assert "d3" not in [h["doc_id"] for h in answer["results"][0]["hits"]]


def test_an_unreachable_cluster_address_is_one_line_and_exit_2_within_seconds(shards):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{sock.getsockname()[1]}"
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "textmetric", "serve", "--ray", address, "--index", str(shards[0]),
                           "--port", str(free_port())], capture_output=True, text=True, timeout=60)
    assert time.monotonic() - start < 20
    assert done.returncode == 2
    assert address in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
