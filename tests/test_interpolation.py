"""WiSE-FT: the saved weights interpolated between the starting and the fine-tuned model."""

import copy
import json

import numpy as np
import pytest
import torch

from conftest import make_toy_beir
from textmetric.encoding import load_model
from textmetric.errors import InputError
from textmetric.training.config import TrainConfig
from textmetric.training.interpolation import (INTERPOLATION_GRID, choose_interpolation, interpolate,
                                               parse_interpolation, snapshot)
from textmetric.training.trainer import fine_tune

FAST = dict(batch_size=8, dev_fraction=0.25, logging_steps=2, lr=1e-3, epochs=2)
TEXTS = ["cats purr", "dogs bark and fetch", "a programming language"]


def _vectors(model) -> np.ndarray:
    model.eval()
    return model.encode(TEXTS, convert_to_numpy=True)


@pytest.fixture
def start_and_tuned(tiny_model):
    """The tiny model, and a copy whose floating-point weights were moved (as fine-tuning would)."""
    tuned = copy.deepcopy(tiny_model)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for tensor in tuned.state_dict().values():
            if torch.is_floating_point(tensor):
                tensor.add_(0.05 * torch.randn(tensor.shape, generator=generator))
    return tiny_model, tuned


@pytest.mark.parametrize("weight, expected", [(0.0, "start"), (1.0, "tuned")])
def test_the_ends_of_the_line_are_the_starting_and_the_fine_tuned_model(start_and_tuned, weight, expected):
    start, tuned = start_and_tuned
    want = _vectors(start if expected == "start" else tuned)
    model = copy.deepcopy(tuned)
    interpolate(model, snapshot(start), snapshot(tuned), weight)
    np.testing.assert_allclose(_vectors(model), want, atol=1e-6)


def test_a_weight_between_gives_the_average_of_the_weights(start_and_tuned):
    start, tuned = start_and_tuned
    model = copy.deepcopy(start)
    interpolate(model, snapshot(start), snapshot(tuned), 0.25)
    name, value = next((n, v) for n, v in model.state_dict().items() if torch.is_floating_point(v))
    torch.testing.assert_close(value, 0.75 * start.state_dict()[name] + 0.25 * tuned.state_dict()[name])


def test_auto_picks_the_grid_point_with_the_best_dev_score():
    weight, scores = choose_interpolation(lambda w: -(w - 0.6) ** 2)
    assert weight == 0.6 and list(scores) == list(INTERPOLATION_GRID)


def test_of_equally_good_weights_auto_picks_the_one_nearest_the_starting_model():
    assert choose_interpolation(lambda w: 0.5 if w >= 0.5 else 0.1)[0] == 0.5


@pytest.mark.parametrize("text", ["1.5", "-0.1", "nan", "often"])
def test_a_weight_outside_zero_to_one_is_a_one_line_error(text):
    with pytest.raises(InputError, match="interpolat"):
        parse_interpolation(text)


def test_auto_and_none_and_a_number_are_read():
    assert (parse_interpolation("auto"), parse_interpolation("none"), parse_interpolation("0.7")) == ("auto", None, 0.7)


@pytest.fixture(scope="module")
def auto_run(tmp_path_factory, tiny_model_path):
    root = tmp_path_factory.mktemp("wise-ft")
    toy = make_toy_beir(root / "toy")
    config = TrainConfig(interpolation="auto", keep_last=True, **FAST)  # the last checkpoint, even if worse
    return root / "model", fine_tune(toy, root / "model", model_name=tiny_model_path, config=config), toy, config


def test_auto_saves_the_weight_best_on_dev_with_every_grid_score_in_the_log(auto_run):
    folder, log, _, _ = auto_run
    assert log["saved"] == "last"
    record = json.loads((folder / "training_log.json").read_text())["interpolation"]
    assert record == log["interpolation"] and record["chosen"] == "auto"
    scores = {float(w): s for w, s in record["dev_by_weight"].items()}
    assert set(scores) == set(INTERPOLATION_GRID)
    assert scores[record["weight"]] == max(scores.values()) == log["dev_after"]
    assert f"λ = {record['weight']:g}" in log["summary"]
    assert all(f"λ {w} {s:.4f}" in log["summary"] for w, s in record["dev_by_weight"].items())


def test_the_saved_model_scores_on_the_carved_dev_split_what_the_log_says(auto_run, tiny_model_path):
    from textmetric.data import load_beir
    from textmetric.training.training_set import DevEvaluator, prepare_training_set

    folder, log, toy, config = auto_run
    training = prepare_training_set(toy, config, load_model(tiny_model_path))
    assert set(training.dev_queries) <= set(load_beir(toy, "train").qrels)  # carved from train, never test
    assert not set(training.dev_queries) & set(load_beir(toy, "test").qrels)
    saved = DevEvaluator(training, batch_size=8)(load_model(folder))
    assert saved["dev_ndcg@10"] == pytest.approx(log["dev_after"], abs=1e-6)


def test_when_the_starting_model_is_saved_nothing_is_interpolated(toy_beir, tiny_model_path, tmp_path):
    config = TrainConfig(interpolation="auto", **{**FAST, "lr": 1e-9, "epochs": 1})
    log = fine_tune(toy_beir, tmp_path / "model", model_name=tiny_model_path, config=config)
    assert log["saved"] == "start" and log["interpolation"] is None


def test_weight_zero_saves_the_starting_models_vectors(toy_beir, tiny_model_path, tmp_path):
    config = TrainConfig(interpolation=0.0, keep_last=True, **FAST)
    log = fine_tune(toy_beir, tmp_path / "model", model_name=tiny_model_path, config=config)
    assert log["interpolation"]["weight"] == 0.0 and log["saved"] == "last"
    np.testing.assert_allclose(_vectors(load_model(tmp_path / "model")), _vectors(load_model(tiny_model_path)),
                               atol=1e-6)


def test_auto_without_a_dev_split_is_refused_before_training(toy_beir, tiny_model_path, tmp_path):
    config = TrainConfig(interpolation="auto", **{**FAST, "dev_fraction": 0.0})
    with pytest.raises(InputError, match="dev"):
        fine_tune(toy_beir, tmp_path / "model", model_name=tiny_model_path, config=config)
    assert not (tmp_path / "model").exists()


def test_interpolating_a_linear_adapter_is_refused(toy_beir, tiny_model_path, tmp_path):
    config = TrainConfig(interpolation=0.5, adapter="linear", loss="triplet")
    with pytest.raises(InputError, match="adapter"):
        fine_tune(toy_beir, tmp_path / "model", model_name=tiny_model_path, config=config)


def test_train_cli_refuses_a_bad_weight_in_one_line(cli, toy_beir, tmp_path):
    code, out, err = cli("train", "--data", toy_beir, "--output", tmp_path / "m", "--interpolate", "2")
    assert code == 2 and "--interpolate" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
