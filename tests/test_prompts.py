"""Query and document prompts (e5, bge): applied as sentence-transformers applies them, recorded, checked."""

import json

import numpy as np
import pytest
from transformers import TrainerCallback

from conftest import build_tiny_model, rewrite_manifest
from textmetric.data import load_corpus
from textmetric.encoding import NO_PROMPTS, Encoder, load_model
from textmetric.errors import InputError
from textmetric.evaluation.runs import read_run
from textmetric.index import Index
from textmetric.index.building import build_index, load_index_model

PROMPTS = {"query": "query: ", "document": "passage: "}
QUERIES = ["animals that purr", "a programming language", "how to bake bread"]


@pytest.fixture(scope="module")
def prompted_path(tmp_path_factory):
    """A tiny model whose folder carries a query and a document prompt, as e5's does."""
    folder = build_tiny_model(tmp_path_factory.mktemp("prompted"))
    config_path = folder / "config_sentence_transformers.json"
    config = json.loads(config_path.read_text())
    config["prompts"] = PROMPTS
    config_path.write_text(json.dumps(config))
    return folder


@pytest.fixture(scope="module")
def prompted(prompted_path):
    """The prompted model as sentence-transformers loads it: the reference for every vector here."""
    return load_model(prompted_path)


def cosine_scores(queries: np.ndarray, documents: np.ndarray) -> np.ndarray:
    unit = lambda v: v / np.linalg.norm(v, axis=1, keepdims=True)  # noqa: E731
    return unit(queries) @ unit(documents).T


def expected_scores(model, beir_dir, query: str, **query_options) -> dict[str, float]:
    """Cosine of ``encode_query(query)`` with ``encode_document`` of each corpus document."""
    corpus = load_corpus(beir_dir / "corpus.jsonl")
    ids = list(corpus)
    documents = model.encode_document([corpus[i].full_text for i in ids])
    return dict(zip(ids, cosine_scores(model.encode_query([query], **query_options), documents)[0].tolist()))


# -- the Encoder -----------------------------------------------------------------------------------

def test_the_encoder_takes_the_prompts_of_the_model_folder(prompted_path):
    assert Encoder.load(prompted_path).prompts == PROMPTS


def test_queries_and_documents_get_encode_query_and_encode_document_vectors(prompted):
    encoder = Encoder(prompted)
    queries = encoder.encode_queries(QUERIES)
    np.testing.assert_allclose(queries, prompted.encode_query(QUERIES), atol=1e-6)
    np.testing.assert_allclose(encoder.encode_documents(QUERIES), prompted.encode_document(QUERIES), atol=1e-6)
    assert np.abs(queries - prompted.encode(QUERIES)).max() > 1e-3  # the prompt changes the vectors


def test_without_prompts_queries_and_documents_encode_as_plain_encode(tiny_model):
    encoder = Encoder(tiny_model)
    assert encoder.prompts == NO_PROMPTS
    np.testing.assert_array_equal(encoder.encode_queries(QUERIES), tiny_model.encode(QUERIES))
    np.testing.assert_array_equal(encoder.encode_documents(QUERIES), tiny_model.encode(QUERIES))


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_the_onnx_backends_apply_the_prompts(prompted_path, prompted, backend):
    vectors = Encoder.load(prompted_path, backend=backend).encode_queries(QUERIES)
    with_prompt, plain = prompted.encode_query(QUERIES), prompted.encode(QUERIES)
    assert (np.linalg.norm(vectors - with_prompt, axis=1) < np.linalg.norm(vectors - plain, axis=1) / 4).all()
    if backend == "onnx":
        np.testing.assert_allclose(vectors, with_prompt, atol=1e-4)


def test_prompts_and_prompt_names_override_the_model_prompts(prompted_path, prompted):
    encoder = Encoder.load(prompted_path, prompts={"query": "search_query: "})
    assert encoder.prompts == {"query": "search_query: ", "document": "passage: "}
    np.testing.assert_allclose(encoder.encode_queries(QUERIES), prompted.encode_query(QUERIES, prompt="search_query: "),
                               atol=1e-6)
    named = Encoder.load(prompted_path, prompts={"document": ""}, prompt_names={"query": "document"})
    assert named.prompts == {"query": "passage: ", "document": ""}


@pytest.mark.parametrize("options, message", [
    ({"prompt_names": {"query": "retrieval"}}, "the model has no prompt named 'retrieval' (its prompts: query, "),
    ({"prompts": {"query": "q: "}, "prompt_names": {"query": "query"}}, "give the query prompt or its name, not both"),
    ({"prompts": {"passage": "p: "}}, "prompts are for query and document, not passage"),
])
def test_a_prompt_that_cannot_be_resolved_is_a_clear_error(prompted, options, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Encoder(prompted, **options)


def test_a_truncation_count_includes_the_prompt_tokens(prompted):
    encoder = Encoder(prompted)
    plain = encoder.token_lengths(QUERIES)
    assert encoder.token_lengths(QUERIES, role="query") == [n + 2 for n in plain]  # "query", ":"


# -- search, evaluate, the index manifest ------------------------------------------------------------

def test_the_manifest_records_the_prompts(prompted_path, beir_dir, tmp_path):
    build_index(Encoder.load(prompted_path), load_corpus(beir_dir / "corpus.jsonl"), tmp_path / "idx")
    assert Index.load(tmp_path / "idx").model["prompts"] == PROMPTS


@pytest.fixture
def prompted_index(cli, beir_dir, prompted_path, tmp_path):
    out = tmp_path / "idx"
    code, _, err = cli("index", "--corpus", beir_dir, "--output", out, "--model", prompted_path, "-q")
    assert code == 0, err
    return out


def test_search_scores_with_encode_query_and_encode_document_vectors(cli, prompted_index, prompted, beir_dir):
    code, out, err = cli("search", "--index", prompted_index, "animals that purr", "-k", "5", "--json", "-q")
    assert code == 0, err
    scores = {hit["doc_id"]: hit["score"] for hit in json.loads(out)["hits"]}
    expected = expected_scores(prompted, beir_dir, "animals that purr")
    assert scores == pytest.approx(expected, abs=1e-5)


def test_evaluate_ranks_with_encode_query_and_encode_document_vectors(cli, prompted_path, prompted, beir_dir,
                                                                      tmp_path):
    code, _, err = cli("evaluate", "--data", beir_dir, "--model", prompted_path, "--run-out", tmp_path / "run", "-q")
    assert code == 0, err
    run = read_run(tmp_path / "run")
    assert run["q1"] == pytest.approx(expected_scores(prompted, beir_dir, "animals that purr"), abs=1e-5)


def test_a_search_with_other_prompts_than_the_index_is_refused_in_one_line(cli, prompted_index):
    code, out, err = cli("search", "--index", prompted_index, "animals that purr", "--query-prompt", "")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "built with query prompt 'query: ', document prompt 'passage: '" in err
    assert "set to query prompt none, document prompt 'passage: '" in err


def test_prompt_options_are_recorded_and_searches_use_them(cli, prompted_path, prompted, beir_dir, tmp_path):
    out = tmp_path / "idx"
    code, _, err = cli("index", "--corpus", beir_dir, "--output", out, "--model", prompted_path,
                       "--query-prompt", "q: ", "--document-prompt-name", "query", "-q")
    assert code == 0, err
    assert Index.load(out).model["prompts"] == {"query": "q: ", "document": "query: "}
    code, printed, err = cli("search", "--index", out, "bread", "-k", "5", "--json", "-q")
    assert code == 0, err
    corpus = load_corpus(beir_dir / "corpus.jsonl")
    documents = prompted.encode([corpus[i].full_text for i in corpus], prompt="query: ")
    expected = dict(zip(corpus, cosine_scores(prompted.encode(["bread"], prompt="q: "), documents)[0].tolist()))
    assert {h["doc_id"]: h["score"] for h in json.loads(printed)["hits"]} == pytest.approx(expected, abs=1e-5)


def test_an_index_that_records_no_prompts_was_built_without_them(cli, prompted_path, beir_dir, tmp_path):
    out = tmp_path / "old"
    code, _, err = cli("index", "--corpus", beir_dir, "--output", out, "--model", prompted_path,
                       "--query-prompt", "", "--document-prompt", "", "-q")
    assert code == 0, err
    # as textmetric wrote it before prompts were recorded
    rewrite_manifest(out, lambda manifest: manifest["model"].pop("prompts"), version=1)
    assert load_index_model(Index.load(out)).prompts == NO_PROMPTS
    code, _, err = cli("search", "--index", out, "bread", "-q")
    assert code == 0, err
    code, _, err = cli("search", "--index", out, "bread", "--query-prompt", "query: ")
    assert code == 2 and "built with query prompt none, document prompt none" in err


def test_a_malformed_prompts_record_is_a_clear_error(prompted_index):
    rewrite_manifest(prompted_index, lambda manifest: manifest["model"].update(prompts={"query": 1}))
    with pytest.raises(InputError, match="malformed 'model.prompts'"):
        Index.load(prompted_index)


# -- training ------------------------------------------------------------------------------------------

class TrainerPrompts(TrainerCallback):
    """Records the ``prompts`` the sentence-transformers trainer was given."""

    def on_train_begin(self, args, state, control, **kwargs):
        self.prompts = args.prompts


def test_training_passes_the_prompts_to_the_trainer_and_the_saved_folder_keeps_them(prompted_path, toy_beir,
                                                                                    tmp_path):
    from textmetric.training.config import TrainConfig
    from textmetric.training.trainer import fine_tune

    spy = TrainerPrompts()
    config = TrainConfig(epochs=1, batch_size=8, dev_fraction=0.25, hard_negatives=None, prompts={"query": "q: "})
    fine_tune(toy_beir, tmp_path / "m", model_name=prompted_path, config=config, callbacks=[spy])
    assert spy.prompts == {"query": "q: ", "positive": "passage: "}
    assert Encoder.load(tmp_path / "m").prompts == {"query": "q: ", "document": "passage: "}


def test_a_loss_that_mixes_queries_and_documents_in_a_column_refuses_two_prompts(prompted_path, toy_beir, tmp_path):
    from textmetric.training.config import TrainConfig
    from textmetric.training.trainer import fine_tune

    with pytest.raises(InputError, match="holds queries and documents in one column 'text'"):
        fine_tune(toy_beir, tmp_path / "m", model_name=prompted_path,
                  config=TrainConfig(loss="batch-hard", epochs=1, batch_size=8))
    assert not (tmp_path / "m").exists()


def test_the_dev_evaluation_searches_with_encode_query_and_encode_document(prompted, toy_beir):
    from textmetric.evaluation.metrics import evaluate
    from textmetric.index import ExactIndex
    from textmetric.training.config import TrainConfig
    from textmetric.training.training_set import DevEvaluator, prepare_training_set

    training = prepare_training_set(toy_beir, TrainConfig(hard_negatives=None, dev_fraction=0.5), prompted)
    ids = list(training.dev_corpus)
    qids = list(training.dev_queries)

    def scores(documents, queries):
        hits = ExactIndex(ids, documents).search(queries, 100)
        return evaluate({q: dict(h) for q, h in zip(qids, hits)}, training.dev_qrels, ["map", "ndcg@10"]).means

    texts = [training.dev_corpus[d].full_text for d in ids]
    questions = [training.dev_queries[q] for q in qids]
    expected = scores(prompted.encode_document(texts), prompted.encode_query(questions))
    assert expected != scores(prompted.encode(texts), prompted.encode(questions))  # the prompts matter here
    result = DevEvaluator(training)(prompted)
    assert result == pytest.approx({"dev_map": expected["map"], "dev_ndcg@10": expected["ndcg@10"]}, abs=1e-9)
