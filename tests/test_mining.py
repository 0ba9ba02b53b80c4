"""Hard-negative mining: false negatives dropped by a relative margin, relevant documents never negatives."""

import numpy as np
import pytest

from textmetric.encoding import load_model
from textmetric.errors import InputError
from textmetric.index import ExactIndex
from textmetric.training.config import TrainConfig
from textmetric.training.mining import mine_hard_negatives

QUERY = "animals that purr"


@pytest.fixture
def crafted(tiny_model):
    """An index whose documents lie at chosen cosine similarities to the query's embedding: the relevant
    ``pos`` at 0.8, ``near`` at 0.79 (within 5 % of it), ``far`` at 0.5, ``other_pos`` (also relevant) at 0.9."""
    query = tiny_model.encode([QUERY])[0].astype(np.float64)
    query /= np.linalg.norm(query)
    side = np.random.default_rng(0).standard_normal(query.shape)
    side -= (side @ query) * query
    side /= np.linalg.norm(side)
    cosines = {"pos": 0.8, "near": 0.79, "far": 0.5, "other_pos": 0.9}
    ids = list(cosines)
    vectors = np.stack([c * query + np.sqrt(1 - c * c) * side for c in cosines.values()]).astype(np.float32)
    qrels = {"q": {"pos": 1, "other_pos": 2, "far": 0}}
    return tiny_model, ExactIndex(ids, vectors, "cosine"), {"q": QUERY}, qrels


def test_a_negative_within_the_relative_margin_of_the_positive_is_dropped(crafted):
    model, index, queries, qrels = crafted
    assert mine_hard_negatives(model, index, queries, qrels, negatives=5)["q"] == ["near", "far"]
    assert mine_hard_negatives(model, index, queries, qrels, negatives=5, relative_margin=0.05)["q"] == ["far"]


def test_a_document_judged_relevant_is_never_a_negative(crafted):
    model, index, queries, qrels = crafted
    for margin in (0.0, 0.05, 0.5):
        mined = mine_hard_negatives(model, index, queries, qrels, negatives=5, relative_margin=margin)["q"]
        assert not {"pos", "other_pos"} & set(mined)


@pytest.mark.parametrize("margin", [-0.1, 1.0, float("nan")])
def test_a_relative_margin_outside_zero_to_one_is_refused(crafted, margin):
    with pytest.raises(InputError, match="relative_margin"):
        mine_hard_negatives(*crafted, relative_margin=margin)


def test_dev_queries_never_reach_the_training_rows(toy_beir, tiny_model_path):
    from textmetric.training.training_set import prepare_training_set

    config = TrainConfig(negatives_per_pair=2, relative_margin=0.05, dev_fraction=0.25)
    training = prepare_training_set(toy_beir, config, load_model(tiny_model_path))
    assert training.dev_queries and training.rows
    assert not set(training.dev_queries.values()) & {row[0] for row in training.rows}


def test_a_relative_margin_without_mining_is_refused():
    with pytest.raises(InputError, match="relative_margin"):
        TrainConfig(relative_margin=0.05, hard_negatives=None)


def test_mine_cli_drops_likely_false_negatives(cli, toy_beir, tiny_model_path, tmp_path):
    counts = []
    for margin in ("0", "0.5"):
        code, out, _ = cli("mine", "--data", toy_beir, "--output", tmp_path / f"n{margin}.jsonl", "--model",
                           tiny_model_path, "--relative-margin", margin, "--negatives", "3", "--json")
        assert code == 0
        counts.append((tmp_path / f"n{margin}.jsonl").read_text().count("\n"))
    assert counts[1] < counts[0]
