"""`textmetric serve --ray` over a collection: a searcher per shard folder, and lexical and hybrid search fanned out
as dense is, since the shards score BM25 with the whole corpus's statistics. The Ray service's backend runs here in
one process, each deployment handle standing in for an object called in place (no cluster: Serve's own plumbing
is what tests/test_serve_ray.py covers)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("ray")

from fastapi.testclient import TestClient  # noqa: E402

import textmetric as tm  # noqa: E402
from textmetric.distributed.serving import RayBackend, ShardSearcher, served_folders  # noqa: E402
from textmetric.serve.app import create_app  # noqa: E402
from textmetric.serve.batching import encode_batch  # noqa: E402
from textmetric.serve.schema import MAX_BODY_BYTES  # noqa: E402

QUERIES = {"q1": "animals that purr", "q2": "a programming language", "q3": "how to bake bread"}


class _Done:
    """A deployment call that has run: what ``DeploymentResponse.result()`` gives."""

    def __init__(self, value) -> None:
        self.value = value

    def result(self):
        return self.value


class _Handle:
    """A deployment handle over an object in this process: ``handle.method.remote(*args)`` calls the method."""

    def __init__(self, target) -> None:
        self.target = target

    def __getattr__(self, name: str):
        method = getattr(self.target, name)
        return SimpleNamespace(remote=lambda *args, **kwargs: _Done(method(*args, **kwargs)))


class _Encoder:
    """The encoder deployment's answer to one request, as ``QueryEncoder`` gives it."""

    def __init__(self, encoder: tm.Encoder) -> None:
        self.encoder = encoder

    def encode(self, texts: list[str]):
        return encode_batch(self.encoder, [texts], 32)[0]


@pytest.fixture
def collection(beir_dir, tiny_model_path, tmp_path):
    tm.build_collection(tm.Encoder.load(tiny_model_path), beir_dir, tmp_path / "coll", shards=3,
                        model_name=tiny_model_path, lexical=tm.LexicalSettings())
    return tmp_path / "coll"


def on_ray(folder, tiny_model_path) -> TestClient:
    """The Ray service's app over ``folder`` with its deployments called in place."""
    paths, built = served_folders([folder])
    searchers = [ShardSearcher(str(path), None, {}, 0, 32, 1.0) for path in paths]
    encoder = tm.Encoder.load(tiny_model_path)
    model = {"backend": encoder.backend, "max_seq_length": encoder.max_seq_length, "tuned_fusion": None,
             "prompts": encoder.prompts, "max_batch": 64, "max_wait": 0.002, "batches": 0, "queries": 0}
    backend = RayBackend(_Handle(_Encoder(encoder)), [_Handle(s) for s in searchers], model,
                         [s.describe() for s in searchers], api_key="key-0123456789", max_body_bytes=MAX_BODY_BYTES,
                         collection=built)
    return TestClient(create_app(backend))


def test_a_collection_is_served_by_one_searcher_per_shard(collection):
    paths, built = served_folders([collection])
    assert [p.name for p in paths] == ["shard-0", "shard-1", "shard-2"] and built["path"] == str(collection)


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_every_mode_over_a_collection_answers_as_the_local_service(collection, tiny_model_path, mode):
    body = {"queries": QUERIES, "k": 5, "mode": mode}
    with TestClient(create_app(collection, poll=0)) as here, on_ray(collection, tiny_model_path) as ray:
        expected, answer = here.post("/search", json=body).json(), ray.post("/search", json=body).json()
    assert answer["results"] == expected["results"] and answer["score_kind"] == expected["score_kind"]


def test_after_a_write_into_a_shard_lexical_search_is_refused_as_locally(collection, tiny_model_path):
    index = tm.Index.load(collection / "shard-1")
    index.delete([index.ids[0]])
    index.save(collection / "shard-1")
    body = {"query": "bread", "mode": "lexical"}
    with TestClient(create_app(collection, poll=0)) as here, on_ray(collection, tiny_model_path) as ray:
        expected, answer = here.post("/search", json=body), ray.post("/search", json=body)
        dense = ray.post("/search", json={"query": "bread"})
    assert answer.status_code == expected.status_code == 400 and answer.json() == expected.json()
    assert "shard-1" in answer.json()["error"] and dense.status_code == 200


def test_a_served_collection_takes_no_writes_and_says_where_they_go(collection, tiny_model_path):
    with on_ray(collection, tiny_model_path) as ray:
        answer = ray.post("/documents", json=[{"_id": "x", "text": "x"}],
                          headers={"Authorization": "Bearer key-0123456789"})
    assert answer.status_code == 403 and "shard folders" in answer.json()["error"]
