"""Which model `fine_tune` saves: the starting model competes with every checkpoint on the dev split."""

import json

import pytest

from conftest import TOY_TOPICS, warning_messages, write_jsonl
from textmetric.encoding import load_model, weights_fingerprint
from textmetric.training.config import TrainConfig
from textmetric.training.trainer import fine_tune
from textmetric.training.training_set import DevEvaluator

FAST = dict(batch_size=8, dev_fraction=0.25, logging_steps=2, lr=1e-3)


@pytest.fixture
def falling_dev_scores(monkeypatch):
    """A dev split on which the starting model scores 0.8 and the two epochs 0.6, then 0.7."""
    scores = iter([0.8, 0.6, 0.7])

    def score(self, model, output_path=None, epoch=-1, steps=-1):
        value = next(scores)
        return {"dev_map": value, "dev_ndcg@10": value}

    monkeypatch.setattr(DevEvaluator, "__call__", score)


def test_the_starting_model_is_saved_when_no_checkpoint_beats_it(falling_dev_scores, toy_beir, tiny_model_path,
                                                                 tmp_path, warnings_log):
    log = fine_tune(toy_beir, tmp_path / "m", model_name=tiny_model_path, config=TrainConfig(epochs=2, **FAST))
    assert weights_fingerprint(load_model(tmp_path / "m")) == weights_fingerprint(load_model(tiny_model_path))
    assert (log["saved"], log["dev_before"], log["dev_after"]) == ("start", 0.8, 0.8)
    assert log["best_metric"] == pytest.approx(0.7)
    summary = ("fine-tuning did not help: dev ndcg@10 0.8000 before, 0.7000 at best (-0.1000); the output holds "
               "the starting model's weights (keep_last=True saves the last checkpoint instead)")
    assert log["summary"] == summary and warning_messages(warnings_log) == [summary]
    written = json.loads((tmp_path / "m" / "training_log.json").read_text())
    assert (written["saved"], written["summary"]) == ("start", summary)


def test_keep_last_saves_the_last_checkpoint_and_says_what_it_scored(falling_dev_scores, toy_beir, tiny_model_path,
                                                                    tmp_path):
    log = fine_tune(toy_beir, tmp_path / "m", model_name=tiny_model_path,
                    config=TrainConfig(epochs=2, keep_last=True, **FAST))
    assert weights_fingerprint(load_model(tmp_path / "m")) != weights_fingerprint(load_model(tiny_model_path))
    assert log["saved"] == "last" and log["dev_after"] == pytest.approx(0.7)
    assert log["improvement"] == pytest.approx(-0.1)
    assert log["summary"] == ("fine-tuning did not help: dev ndcg@10 0.8000 before, 0.7000 after (-0.1000); "
                              "the last checkpoint was saved")


def test_a_dev_split_the_start_already_ranks_perfectly_keeps_the_starting_weights(tiny_model_path, tmp_path):
    rows = [{"query": f"all about the {w}", "positive": f"all about the {w}"} for w in TOY_TOPICS[:16]]
    log = fine_tune(write_jsonl(tmp_path / "pairs.jsonl", rows), tmp_path / "m", model_name=tiny_model_path,
                    config=TrainConfig(epochs=1, batch_size=4, dev_fraction=0.25, lr=1e-3))
    assert log["dev_before"] == 1.0 and log["saved"] == "start"  # identical texts: nothing left to beat
    assert weights_fingerprint(load_model(tmp_path / "m")) == weights_fingerprint(load_model(tiny_model_path))


def test_a_checkpoint_that_beats_the_start_is_saved_and_the_summary_says_by_how_much(monkeypatch, toy_beir,
                                                                                     tiny_model_path, tmp_path):
    scores = iter([0.5, 0.75])
    monkeypatch.setattr(DevEvaluator, "__call__",
                        lambda self, model, *args, **kwargs: dict.fromkeys(("dev_map", "dev_ndcg@10"), next(scores)))
    log = fine_tune(toy_beir, tmp_path / "m", model_name=tiny_model_path, config=TrainConfig(epochs=1, **FAST))
    assert (log["saved"], log["improvement"]) == ("best", 0.25)
    assert log["summary"] == "fine-tuning raised dev ndcg@10 from 0.5000 to 0.7500 (+0.2500); the best checkpoint " \
                             "was saved"


def test_train_cli_summary_names_the_flag_to_keep_the_last_checkpoint(cli, falling_dev_scores, toy_beir,
                                                                      tiny_model_path, tmp_path):
    code, out, err = cli("train", "--data", toy_beir, "--output", tmp_path / "m", "--model", tiny_model_path,
                         "--epochs", "2", "--batch-size", "8", "--dev-fraction", "0.25", "--lr", "1e-3", "--json")
    record = json.loads(out)
    assert code == 0 and record["saved"] == "start" and record["improvement"] == 0.0
    assert "(--keep-last saves the last checkpoint instead)" in record["summary"]
    assert "dev dev_" not in err and "fine-tuning did not help" in err
