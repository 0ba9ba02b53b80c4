"""`textmetric serve --ray --index COLLECTION`: a collection's shards served on Ray Serve answer as the one-process
service over the collection does, lexical and hybrid search included (the shards score with the collection's BM25
statistics), and writes are refused as that service refuses them.

One application serves every test of this module (Ray Serve takes tens of seconds to start).
"""

from __future__ import annotations

import json
import socket

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
pytest.importorskip("ray")

from fastapi.testclient import TestClient  # noqa: E402

import textmetric as tm  # noqa: E402
from textmetric.index.collection import build_collection  # noqa: E402
from textmetric.serve.app import create_app  # noqa: E402

KEY = "test-key-0123456789"
TEXTS = ["Cats are small furry animals that purr.", "Dogs bark and love to fetch sticks.",
         "Python is a programming language.", "The moon orbits the earth every month.",
         "Bake bread with flour, water and yeast.", "Rust is a language for programming systems.",
         "Lions are large animals that roar.", "Bake a cake with eggs, flour and sugar."]
KINDS = ["animal", "animal", "code", "sky", "food", "code", "animal", "food"]
QUERIES = {"q1": "animals that purr", "q2": "a programming language", "q3": "how to bake bread"}
SEARCHES = [{"queries": QUERIES, "k": 3, "mode": mode} for mode in ("dense", "lexical", "hybrid")] + [
    {"queries": QUERIES, "k": 5, "mode": "hybrid", "filter": {"kind": "food"}},
    {"query": "bake", "k": 8, "mode": "lexical"}]


@pytest.fixture(scope="module")
def collection(tmp_path_factory, tiny_model_path):
    """The corpus as a collection of 3 shards with the corpus's BM25 statistics."""
    folder = tmp_path_factory.mktemp("ray-collection") / "coll"
    corpus = {f"d{i}": tm.Document(text, "", {"kind": kind}) for i, (text, kind) in enumerate(zip(TEXTS, KINDS))}
    build_collection(tm.Encoder.load(tiny_model_path), corpus, folder, shards=3, model_name=tiny_model_path,
                     lexical=tm.LexicalSettings())
    return folder


@pytest.fixture(scope="module")
def ray_client(ray_cluster, collection):
    import httpx

    from textmetric.distributed import serve_on_ray

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with serve_on_ray(collection, port=port, api_key=KEY, encoder_cpus=0.25, searcher_cpus=0.25,
                      poll=0.2) as service:
        with httpx.Client(base_url=service.url, timeout=60, trust_env=False) as client:
            yield client


def without_timing(answer: dict) -> dict:
    return {key: value for key, value in answer.items() if key != "took_ms"}


def test_searches_in_every_mode_are_those_of_the_local_service_over_the_collection(collection, ray_client):
    with TestClient(create_app([collection])) as here:
        expected = [without_timing(here.post("/search", json=body).json()) for body in SEARCHES]
    answers = [without_timing(ray_client.post("/search", json=body).json()) for body in SEARCHES]
    assert answers == expected
    assert all(r["hits"] for r in answers[1]["results"])  # lexical hits, not a refusal


def test_info_lists_the_shards_and_every_mode_and_writes_are_refused_as_locally(collection, ray_client):
    info = ray_client.get("/info").json()
    assert info["modes"] == ["dense", "lexical", "hybrid"] and info["documents"] == len(TEXTS)
    assert [i["shard"] for i in info["indexes"]] == ["0/3", "1/3", "2/3"] and info["writes"] is False
    with TestClient(create_app([collection], api_key=KEY)) as here:
        expected = here.post("/documents", json=[{"_id": "n", "text": "x"}], headers={"X-API-Key": KEY})
    write = ray_client.post("/documents", json=[{"_id": "n", "text": "x"}], headers={"X-API-Key": KEY})
    assert (write.status_code, write.json()) == (expected.status_code, expected.json()) == (403, expected.json())
    assert "collection" in write.json()["error"]


def test_a_collection_rebuilt_under_the_service_is_searched_lexically_with_its_new_statistics(collection,
                                                                                              ray_client,
                                                                                              tiny_model_path):
    import time

    corpus = {f"d{i}": tm.Document(text, "", {"kind": kind}) for i, (text, kind) in enumerate(zip(TEXTS, KINDS))}
    corpus["d8"] = tm.Document("Bread and bread again: a baker's bread.", "", {"kind": "food"})
    build_collection(tm.Encoder.load(tiny_model_path), corpus, collection, shards=3, model_name=tiny_model_path,
                     lexical=tm.LexicalSettings())
    with TestClient(create_app([collection])) as here:
        expected = without_timing(here.post("/search", json=SEARCHES[1]).json())
    built = [part["generation"] for part in json.loads((collection / "collection.json").read_text())["shards"]["parts"]]
    deadline = time.monotonic() + 30
    while ray_client.get("/info").json()["generations"] != built and time.monotonic() < deadline:
        ray_client.post("/search", json={"query": "bread", "k": 1})  # the ingress learns the new shards from a search
        time.sleep(0.2)
    assert ray_client.get("/info").json()["generations"] == built
    answer = without_timing(ray_client.post("/search", json=SEARCHES[1]).json())
    assert {**answer, "state": None} == {**expected, "state": None}  # the Ray service counts the shards' swaps
