"""Index folders written by earlier textmetric versions still load, and search exactly as they did.

``fixtures/index-v1`` was written by ``textmetric index --lexical`` (format version 1) over the
five documents of the ``beir_dir`` fixture, with the tiny model of conftest.py (seed 0);
``fixtures/index-v1.expected.json`` holds what that version's code found in it.
"""

import json
import shutil
from pathlib import Path

import pytest

from textmetric import Index, Retriever
from textmetric.index.building import check_model
from textmetric.encoding import weights_fingerprint

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def expected():
    return json.loads((FIXTURES / "index-v1.expected.json").read_text(encoding="utf-8"))


@pytest.fixture
def old_index(tmp_path):
    shutil.copytree(FIXTURES / "index-v1", tmp_path / "index-v1")  # loading must not touch the fixture
    return Index.load(tmp_path / "index-v1")


def as_lists(hits):
    return [[[doc_id, score] for doc_id, score in row] for row in hits]


def test_the_tiny_model_is_rebuilt_with_the_weights_the_old_index_was_built_with(tiny_model, expected, old_index):
    assert weights_fingerprint(tiny_model) == expected["weights_sha256"] == old_index.model["weights_sha256"]


def test_an_old_index_holds_the_same_documents(old_index, expected):
    assert old_index.ids == expected["ids"]
    assert old_index.document("d4").text == "The moon orbits the earth every month."


def test_an_old_index_finds_the_same_neighbours_of_its_own_vectors(old_index, expected):
    ids = old_index.ids
    assert as_lists(old_index.search(old_index.embeddings(ids), k=5)) == expected["by_vector"]


def test_an_old_index_gives_the_same_lexical_run(old_index, expected):
    run = Retriever(None, old_index, mode="lexical").search(expected["queries"], k=5)
    assert run == expected["runs"]["lexical"]


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_an_old_index_gives_the_same_run_with_the_model_it_was_built_with(old_index, expected, tiny_model, mode):
    check_model(old_index, tiny_model)
    fusion = {"fusion": "rrf"} if mode == "hybrid" else {}  # the hybrid default when the expected runs were made
    run = Retriever(tiny_model, old_index, mode=mode, **fusion).search(expected["queries"], k=5)
    want = expected["runs"][mode]
    assert {q: list(hits) for q, hits in run.items()} == {q: list(hits) for q, hits in want.items()}
    for q, hits in want.items():
        assert [run[q][d] for d in hits] == pytest.approx(list(hits.values()), abs=1e-6)
