"""Hybrid fusion chosen on the dev split at training time, kept in the model folder, used by hybrid search."""

import json
import shutil

import pytest

from textmetric.errors import InputError
from textmetric.search.fusion import DEFAULT_ALPHA, DEFAULT_FUSION
from textmetric.search.tuned_fusion import FUSION_FILE, read_tuned_fusion
from textmetric.training.fusion_tuning import ALPHA_GRID, tune_fusion
from textmetric.training.config import TrainConfig
from textmetric.training.trainer import fine_tune

DOCS = ["a", "b", "c", "d"]
QRELS = {"q1": {"a": 1}, "q2": {"b": 1}}


def _hits(order):
    return [(d, float(len(order) - i)) for i, d in enumerate(order)]


def test_when_only_the_lexical_side_ranks_well_the_weight_goes_to_it():
    dense = [_hits(["d", "c", "b", "a"]), _hits(["d", "c", "a", "b"])]
    lexical = [_hits(["a", "b", "c", "d"]), _hits(["b", "a", "c", "d"])]
    record = tune_fusion(dense, lexical, ["q1", "q2"], QRELS)
    best = [float(a) for a, value in record["dev_by_alpha"].items() if value == record["dev_score"]]
    assert record["fusion"] == "score" and record["dev_score"] == pytest.approx(1.0) and max(best) < 0.5
    assert record["alpha"] == max(best)  # of the alphas tied best, the one nearest the default's 0.5
    assert set(record["dev_by_alpha"]) == {f"{a:g}" for a in ALPHA_GRID} and record["dev_rrf"] < 1.0


def test_when_every_fusion_scores_alike_the_default_fusion_is_kept():
    same = [_hits(["a", "b", "c", "d"]), _hits(["b", "a", "c", "d"])]
    record = tune_fusion(same, same, ["q1", "q2"], QRELS)
    assert record["fusion"] == DEFAULT_FUSION == "score" and record["alpha"] == DEFAULT_ALPHA
    assert record["dev_rrf"] == record["dev_score"]  # RRF tied, and lost the tie to the default


def test_train_keeps_the_fusion_tuned_on_the_dev_split_in_the_model_folder(toy_beir, tiny_model_path, tmp_path):
    config = TrainConfig(tune_fusion=True, epochs=1, batch_size=8, dev_fraction=0.25)
    log = fine_tune(toy_beir, tmp_path / "m", model_name=tiny_model_path, config=config)
    kept = read_tuned_fusion(tmp_path / "m")
    assert kept == json.loads((tmp_path / "m" / FUSION_FILE).read_text()) == log["fusion"]
    assert kept["dev_queries"] == log["dev_queries"] == 7 and kept["depth"] == 100


def test_tuning_the_fusion_without_a_dev_split_is_refused_before_training(toy_beir, tiny_model_path, tmp_path):
    with pytest.raises(InputError, match="tune_fusion"):
        fine_tune(toy_beir, tmp_path / "m", model_name=tiny_model_path,
                  config=TrainConfig(tune_fusion=True, dev_fraction=0.0))
    assert not (tmp_path / "m").exists()


@pytest.fixture
def tuned_index(cli, beir_dir, tiny_model_path, tmp_path):
    """An index (with BM25) built by a copy of the tiny model whose folder keeps a tuned score fusion, alpha 0."""
    model = tmp_path / "model"
    shutil.copytree(tiny_model_path, model)
    (model / FUSION_FILE).write_text(json.dumps({"fusion": "score", "alpha": 0.0, "rrf_k": None,
                                                 "metric": "ndcg@10", "dev_score": 0.5}))
    code, _, err = cli("index", "--corpus", beir_dir, "--output", tmp_path / "idx", "--model", model, "--lexical",
                       "-q")
    assert code == 0, err
    return tmp_path / "idx"


def _ranked(out):
    return [[(h["doc_id"], h["score"]) for h in json.loads(line)["hits"]] for line in out.splitlines()]


def test_hybrid_search_uses_the_models_tuned_fusion_and_says_so(cli, tuned_index):
    code, out, err = cli("search", "--index", tuned_index, "--mode", "hybrid", "animals that purr", "--json")
    _, given, given_err = cli("search", "--index", tuned_index, "--mode", "hybrid", "animals that purr", "--json",
                              "--fusion", "score", "--alpha", "0")
    assert code == 0 and _ranked(out) == _ranked(given)
    assert json.loads(out.splitlines()[0])["score_kind"] == "score-fusion"
    assert "alpha 0, tuned on the dev split" in err and "tuned" not in given_err


def test_an_explicit_fusion_overrides_the_tuned_one(cli, tuned_index):
    _, out, err = cli("search", "--index", tuned_index, "--mode", "hybrid", "animals that purr", "--json",
                      "--fusion", "rrf")
    assert json.loads(out.splitlines()[0])["score_kind"] == "rrf" and "tuned" not in err


def test_evaluate_hybrid_uses_the_tuned_fusion_too(cli, tuned_index, beir_dir):
    code, _, err = cli("evaluate", "--data", beir_dir, "--index", tuned_index, "--mode", "hybrid")
    assert code == 0 and "tuned on the dev split" in err


def test_a_bad_fusion_file_is_a_one_line_error_naming_it(tmp_path):
    (tmp_path / FUSION_FILE).write_text(json.dumps({"fusion": "score", "alpha": 2}))
    with pytest.raises(InputError, match="alpha") as error:
        read_tuned_fusion(tmp_path)
    assert FUSION_FILE in str(error.value)


def test_the_service_fuses_as_the_cli_does_with_the_models_tuned_fusion(cli, tuned_index):
    from fastapi.testclient import TestClient

    from textmetric.serve.app import create_app

    _, out, _ = cli("search", "--index", tuned_index, "--mode", "hybrid", "animals that purr", "--json")
    with TestClient(create_app(tuned_index, poll=0)) as client:
        tuned = client.post("/search", json={"query": "animals that purr", "mode": "hybrid"}).json()
        named = client.post("/search", json={"query": "animals that purr", "mode": "hybrid", "fusion": "rrf"}).json()
    assert [(h["doc_id"], h["score"]) for h in tuned["results"][0]["hits"]] == _ranked(out)[0]
    assert named["score_kind"] == "rrf"  # a fusion named in the request wins over the tuned one
