"""Pseudo-queries from the corpus (inverse cloze task): pairs from documents no query of the split judges."""

import json

import pytest

from conftest import make_toy_beir
from textmetric.data import Document, load_beir
from textmetric.encoding import load_model
from textmetric.errors import InputError
from textmetric.training.config import TrainConfig
from textmetric.training.pseudo_queries import inverse_cloze_pairs
from textmetric.training.trainer import fine_tune


def test_a_sentence_stands_for_a_query_whose_positive_is_the_rest_of_its_document():
    corpus = {"d1": Document("Cats purr. They sleep a lot. Dogs bark.", "Pets")}
    (pair,) = inverse_cloze_pairs(corpus, set(), 5, seed=0)
    sentences = ["Cats purr.", "They sleep a lot.", "Dogs bark."]
    assert pair.doc_id == "d1" and pair.query in sentences
    assert pair.positive == "Pets " + " ".join(s for s in sentences if s != pair.query)


def test_a_one_sentence_document_gives_its_title_as_the_query_and_one_without_a_title_none():
    corpus = {"d1": Document("Cats purr all day", "Cats"), "d2": Document("No title and one sentence")}
    assert [(p.query, p.positive) for p in inverse_cloze_pairs(corpus, set(), 5, seed=0)] == [
        ("Cats", "Cats purr all day")]


def test_excluded_documents_are_never_drawn_and_the_count_is_a_ceiling():
    corpus = {f"d{i}": Document(f"Sentence {i}. Another one.") for i in range(10)}
    pairs = inverse_cloze_pairs(corpus, {"d0", "d1", "d2"}, 4, seed=1)
    assert len(pairs) == 4 and not {"d0", "d1", "d2"} & {p.doc_id for p in pairs}
    assert len(inverse_cloze_pairs(corpus, {"d0"}, 50, seed=1)) == 9


@pytest.fixture
def sentences_beir(tmp_path):
    """The toy task, each document given a second sentence and its topic word as title."""
    folder = make_toy_beir(tmp_path / "toy")
    path = folder / "corpus.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for record in records:
        record["text"] = f"{record['text']}. It is document {record['_id']}."
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def test_no_pseudo_query_uses_a_document_judged_for_a_training_or_dev_query(sentences_beir, tiny_model_path):
    from textmetric.training.training_set import prepare_training_set

    config = TrainConfig(pseudo_queries=100, hard_negatives=None, dev_fraction=0.25)
    training = prepare_training_set(sentences_beir, config, load_model(tiny_model_path))
    data = load_beir(sentences_beir, "train")
    judged = {d for q in data.qrels for d in data.qrels[q]}
    untouched = set(data.corpus) - judged
    assert training.pseudo_pairs == len(untouched) > 0  # every untouched document gave one
    judged_texts = {data.corpus[d].text.split(". ")[0] for d in judged}
    pseudo_rows = training.rows[-training.pseudo_pairs:]
    assert not any(text in row[1] for row in pseudo_rows for text in judged_texts)
    dev_docs = {d for q in training.dev_qrels for d in training.dev_qrels[q]}
    assert dev_docs and not any(data.corpus[d].text.split(". ")[0] in row[1] for row in pseudo_rows for d in dev_docs)


def test_training_with_pseudo_queries_records_them(sentences_beir, tiny_model_path, tmp_path):
    log = fine_tune(sentences_beir, tmp_path / "m", model_name=tiny_model_path,
                    config=TrainConfig(pseudo_queries=5, epochs=1, batch_size=8, dev_fraction=0.25))
    assert log["pseudo_pairs"] == 5 and log["train_rows"] == 19 + 5


def test_pseudo_queries_from_an_example_file_are_refused(tmp_path, tiny_model_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps({"query": "a", "positive": "b"}) + "\n")
    with pytest.raises(InputError, match="pseudo_queries"):
        fine_tune(path, tmp_path / "m", model_name=tiny_model_path, config=TrainConfig(pseudo_queries=3))


def test_a_negative_count_of_pseudo_queries_is_refused():
    with pytest.raises(InputError, match="pseudo_queries"):
        TrainConfig(pseudo_queries=-1)
