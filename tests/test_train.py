"""Fine-tuning end to end on a toy task with the tiny model, mining, resuming, and bad input."""

import json

import pytest
from transformers import TrainerCallback

from conftest import warning_messages, write_jsonl
from textmetric.errors import InputError
from textmetric.encoding import load_model, weights_fingerprint
from textmetric.training.config import TrainConfig
from textmetric.training.trainer import fine_tune, work_folder

FAST = dict(batch_size=8, dev_fraction=0.25, logging_steps=2)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model_path):
    """One mnrl run on the toy task: 10 epochs at a high learning rate (the tiny model starts random)."""
    from conftest import make_toy_beir

    root = tmp_path_factory.mktemp("trained")
    toy = make_toy_beir(root / "toy")
    config = TrainConfig(lr=1e-3, epochs=10, **FAST)
    log = fine_tune(toy, root / "model", model_name=tiny_model_path, config=config)
    return root / "model", log, toy, config


def test_training_lowers_the_loss(trained):
    log = trained[1]
    losses = [h["loss"] for h in log["history"] if "loss" in h]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3


def test_training_raises_the_dev_scores(trained):
    log = trained[1]
    assert log["best_metric"] > log["initial_dev"]["dev_ndcg@10"]


def test_the_output_is_a_sentence_transformers_folder_with_its_log_and_plot(trained):
    from sentence_transformers import SentenceTransformer

    folder = trained[0]
    assert SentenceTransformer(str(folder), device="cpu").get_embedding_dimension() == 32
    assert load_model(folder).get_embedding_dimension() == 32
    log = json.loads((folder / "training_log.json").read_text())
    assert log["config"]["loss"] == "mnrl" and log["dev_queries"] == 7
    assert (folder / "training_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not work_folder(folder).exists()


def test_the_saved_model_is_the_best_checkpoint_on_the_dev_split(trained):
    from textmetric.training.training_set import DevEvaluator, prepare_training_set

    folder, log, toy, config = trained
    scores = [h["eval_dev_ndcg@10"] for h in log["history"] if "eval_dev_ndcg@10" in h]
    assert log["best_metric"] == pytest.approx(max(scores))
    start = load_model(trained[1]["model"])
    saved = DevEvaluator(prepare_training_set(toy, config, start))(load_model(folder))
    assert saved["dev_ndcg@10"] == pytest.approx(max(scores), abs=1e-6)


def test_the_dev_evaluation_warns_of_truncated_texts_once_however_often_it_runs(toy_beir, tiny_model,
                                                                               warnings_log):
    from textmetric.training.training_set import DevEvaluator, prepare_training_set

    tiny_model.max_seq_length = 4  # every dev document is longer
    evaluator = DevEvaluator(prepare_training_set(toy_beir, TrainConfig(hard_negatives=None), tiny_model))
    for _ in range(3):  # as after each epoch, and at each weight WiSE-FT tries
        evaluator(tiny_model)
    assert len([m for m in warning_messages(warnings_log) if "truncated" in m]) == 1


class RestartAtTheEnd(TrainerCallback):
    """Puts the starting weights back before the last evaluation: the last checkpoint scores as the start did."""

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.start = {key: value.detach().clone() for key, value in model.state_dict().items()}

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        if state.epoch >= args.num_train_epochs - 1e-6:
            model.load_state_dict(self.start)


def test_a_worse_last_checkpoint_is_not_the_one_saved(toy_beir, tiny_model_path, tmp_path):
    from textmetric.training.training_set import DevEvaluator, prepare_training_set

    config = TrainConfig(lr=1e-3, epochs=3, hard_negatives=None, **FAST)
    log = fine_tune(toy_beir, tmp_path / "m", model_name=tiny_model_path, config=config,
                    callbacks=[RestartAtTheEnd()])
    scores = [h["eval_dev_ndcg@10"] for h in log["history"] if "eval_dev_ndcg@10" in h]
    assert scores[-1] == pytest.approx(log["initial_dev"]["dev_ndcg@10"]) and max(scores) > scores[-1]
    saved = DevEvaluator(prepare_training_set(toy_beir, config))(load_model(tmp_path / "m"))
    assert saved["dev_ndcg@10"] == pytest.approx(max(scores), abs=1e-6)


def test_the_model_card_skips_widget_examples_only_while_the_trainer_is_built(tiny_model):
    from textmetric.training.trainer import _without_widget_examples

    card = tiny_model.model_card_data
    with _without_widget_examples(tiny_model):
        card.set_widget_examples(["a dataset it would sample"])
        assert not card.widget
    assert card.set_widget_examples.__func__ is type(card).set_widget_examples  # the model is left as it was


@pytest.mark.parametrize("loss", ["triplet", "contrastive", "batch-hard", "batch-semi-hard"])
def test_every_loss_trains_on_a_beir_folder(loss, toy_beir, tiny_model_path, tmp_path):
    log = fine_tune(toy_beir, tmp_path / "m", model_name=tiny_model_path,
                    config=TrainConfig(loss=loss, epochs=1, lr=1e-3, **FAST))
    assert log["train_rows"] > 0 and any("loss" in h for h in log["history"])


def test_cached_mnrl_trains_in_mini_batches(toy_beir, tiny_model_path, tmp_path):
    log = fine_tune(toy_beir, tmp_path / "m", model_name=tiny_model_path,
                    config=TrainConfig(loss="cached-mnrl", mini_batch_size=3, epochs=1, **FAST))
    losses = [h["loss"] for h in log["history"] if "loss" in h]
    assert losses and all(loss > 0 for loss in losses) and log["config"]["mini_batch_size"] == 3


def test_a_mini_batch_size_for_a_loss_without_one_is_refused_before_any_model_loads():
    with pytest.raises(InputError, match="mini_batch_size goes with a cached loss"):
        TrainConfig(loss="mnrl", mini_batch_size=4)


def test_mnrl_with_hard_negatives_mined_from_the_starting_model(toy_beir, tiny_model_path, tmp_path):
    log = fine_tune(toy_beir, tmp_path / "m", model_name=tiny_model_path,
                    config=TrainConfig(hard_negatives="auto", negatives_per_pair=2, epochs=1, **FAST))
    assert log["train_rows"] == 19  # 19 training pairs (26 train queries less 7 dev), one row each


def test_mnrl_rows_hold_each_pairs_negatives_side_by_side(toy_beir, tiny_model_path):
    from textmetric.training.training_set import prepare_training_set

    training = prepare_training_set(toy_beir, TrainConfig(negatives_per_pair=3), load_model(tiny_model_path))
    assert training.columns == ("query", "positive", "negative_1", "negative_2", "negative_3")
    assert all(len(set(row[2:])) == 3 and row[1] not in row[2:] for row in training.rows)


def test_by_default_each_pair_gets_the_first_non_relevant_hit_below_the_top_three(toy_beir, tiny_model_path):
    from textmetric import ExactIndex, load_beir
    from textmetric.training.training_set import prepare_training_set

    model = load_model(tiny_model_path)
    training = prepare_training_set(toy_beir, TrainConfig(), model)
    data = load_beir(toy_beir, "train")
    index = ExactIndex.build(model, data.corpus)
    text_to_id = {doc.full_text: d for d, doc in data.corpus.items()}
    query_to_id = {text: q for q, text in data.queries.items()}
    assert training.columns == ("query", "positive", "negative")
    for query, _, negative in training.rows:
        qid = query_to_id[query]
        ranked = [d for d, _ in index.search(model.encode([query]), 50)[0]]
        unjudged = [d for d in ranked[3:] if data.qrels[qid].get(d, 0) < 1]
        assert text_to_id[negative] == unjudged[0]


def test_hard_negatives_none_trains_mnrl_on_in_batch_negatives_only(toy_beir, tiny_model_path):
    from textmetric.training.training_set import prepare_training_set

    training = prepare_training_set(toy_beir, TrainConfig(hard_negatives=None), load_model(tiny_model_path))
    assert training.columns == ("query", "positive") and len(training.rows) == 23  # 26 less 3 dev


def test_training_is_reproducible_with_a_seed(toy_beir, tiny_model_path, tmp_path):
    config = TrainConfig(epochs=1, lr=1e-3, **FAST)
    fine_tune(toy_beir, tmp_path / "a", model_name=tiny_model_path, config=config)
    fine_tune(toy_beir, tmp_path / "b", model_name=tiny_model_path, config=config)
    assert weights_fingerprint(load_model(tmp_path / "a")) == weights_fingerprint(load_model(tmp_path / "b"))


class StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt


class CountSteps(TrainerCallback):
    def __init__(self):
        self.steps = []

    def on_step_end(self, args, state, control, **kwargs):
        self.steps.append(state.global_step)


def test_an_interrupted_run_resumes_from_its_last_checkpoint(toy_beir, tiny_model_path, tmp_path):
    config = TrainConfig(epochs=3, lr=1e-3, eval_steps=3, **FAST)
    with pytest.raises(KeyboardInterrupt):
        fine_tune(toy_beir, tmp_path / "m", model_name=tiny_model_path, config=config, callbacks=[StopAt(5)])
    assert not (tmp_path / "m").exists()
    assert (work_folder(tmp_path / "m") / "checkpoints" / "checkpoint-3").is_dir()
    counter = CountSteps()
    log = fine_tune(toy_beir, tmp_path / "m", model_name=tiny_model_path, config=config, resume=True,
                    callbacks=[counter])
    assert log["resumed"] is True
    assert counter.steps == [4, 5, 6, 7, 8, 9]  # 3 epochs of 3 steps; the 3 before the checkpoint are not redone


def test_training_on_a_triplet_file(tmp_path, tiny_model_path):
    rows = [{"anchor": f"query {w}", "positive": f"text about {w}", "negative": f"text about {v}"}
            for w, v in zip("red green blue pink gray gold teal navy".split(),
                            "gold teal navy red green blue pink gray".split())]
    log = fine_tune(write_jsonl(tmp_path / "t.jsonl", rows), tmp_path / "m", model_name=tiny_model_path,
                    config=TrainConfig(loss="triplet", epochs=1, batch_size=4, dev_fraction=0.25))
    assert log["train_rows"] == 6 and log["dev_queries"] == 2


def test_training_on_labelled_pairs_tracks_pair_accuracy(tmp_path, tiny_model_path):
    rows = [{"text_a": f"word {i}", "text_b": f"word {i}" if i % 2 else f"other {i}", "label": i % 2}
            for i in range(12)]
    log = fine_tune(write_jsonl(tmp_path / "p.jsonl", rows), tmp_path / "m", model_name=tiny_model_path,
                    config=TrainConfig(loss="contrastive", epochs=1, batch_size=4, dev_fraction=0.25))
    assert set(log["initial_dev"]) == {"dev_accuracy", "dev_f1"}


# -- bad input -----------------------------------------------------------------------------------

def test_labelled_pairs_with_mnrl_is_a_clear_error(tmp_path, tiny_model_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"text_a": "a", "text_b": "b", "label": 1}] * 4)
    with pytest.raises(InputError, match="use --loss contrastive"):
        fine_tune(path, tmp_path / "m", model_name=tiny_model_path, config=TrainConfig(loss="mnrl"))


def test_query_positive_pairs_with_the_triplet_loss_is_a_clear_error(tmp_path, tiny_model_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"query": "a", "positive": "b"}] * 4)
    with pytest.raises(InputError, match="needs negatives"):
        fine_tune(path, tmp_path / "m", model_name=tiny_model_path, config=TrainConfig(loss="triplet"))


def test_a_negatives_file_with_an_example_file_is_a_clear_error(tmp_path, tiny_model_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"query": "a", "positive": "b"}] * 4)
    with pytest.raises(InputError, match="go with a BEIR folder"):
        fine_tune(path, tmp_path / "m", model_name=tiny_model_path,
                  config=TrainConfig(hard_negatives=str(tmp_path / "negatives.jsonl")))


def test_missing_training_data_is_named_as_missing(tmp_path, tiny_model_path):
    with pytest.raises(InputError, match="no such file or folder"):
        fine_tune(tmp_path / "nope", tmp_path / "m", model_name=tiny_model_path)


def test_batch_hard_needs_an_even_batch_of_at_least_four(toy_beir, tmp_path, tiny_model_path):
    with pytest.raises(InputError, match="even and at least 4"):
        fine_tune(toy_beir, tmp_path / "m", model_name=tiny_model_path,
                  config=TrainConfig(loss="batch-hard", batch_size=5))


def test_an_existing_output_folder_is_not_overwritten(toy_beir, tmp_path, tiny_model_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="already exists"):
        fine_tune(toy_beir, tmp_path / "m", model_name=tiny_model_path)
    assert (tmp_path / "m" / "keep.txt").read_text() == "mine"


def test_a_margin_that_cannot_fit_the_distance_is_refused(toy_beir, tmp_path, tiny_model_path):
    with pytest.raises(InputError, match="margin 5"):
        fine_tune(toy_beir, tmp_path / "m", model_name=tiny_model_path,
                  config=TrainConfig(loss="triplet", distance="cosine", margin=5))


# -- the CLI -------------------------------------------------------------------------------------

def test_mine_writes_triplets_of_non_relevant_top_documents(cli, toy_beir, tiny_model_path, tmp_path):
    out = tmp_path / "negatives.jsonl"
    code, _, err = cli("mine", "--data", toy_beir, "--output", out, "--model", tiny_model_path, "--negatives", "3",
                       "--max-rank", "10", "-q")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert code == 0 and len(rows) == 26 * 3
    assert all(r["negative_id"] != r["positive_id"] for r in rows)
    assert {"anchor", "positive", "negative"} <= set(rows[0])


def test_train_cli_uses_mined_negatives_and_writes_a_model(cli, toy_beir, tiny_model_path, tmp_path):
    negatives = tmp_path / "negatives.jsonl"
    cli("mine", "--data", toy_beir, "--output", negatives, "--model", tiny_model_path, "-q")
    code, _, err = cli("train", "--data", toy_beir, "--output", tmp_path / "m", "--model", tiny_model_path,
                       "--loss", "triplet", "--hard-negatives", negatives, "--epochs", "1", "--batch-size", "8",
                       "--dev-fraction", "0.25")
    assert code == 0, err
    assert "model written to" in err and (tmp_path / "m" / "model.safetensors").exists()


def test_train_cli_rejects_a_missing_negatives_file(cli, toy_beir, tmp_path):
    code, _, err = cli("train", "--data", toy_beir, "--output", tmp_path / "m", "--hard-negatives",
                       tmp_path / "nope.jsonl")
    assert code == 2 and "no such file" in err and err.count("\n") == 1


# -- the linear adapter: d(x, y) = ‖W(x − y)‖ on a frozen encoder ---------------------------------

def test_the_linear_adapter_trains_only_w_and_loads_as_one_model(toy_beir, tiny_model_path, tmp_path):
    from textmetric.training.adapter import adapter_matrix

    log = fine_tune(toy_beir, tmp_path / "m", model_name=tiny_model_path,
                    config=TrainConfig(adapter="linear", loss="triplet", epochs=10, lr=1e-3, **FAST))
    model = load_model(tmp_path / "m")
    base = load_model(tiny_model_path)
    assert model.similarity_fn_name == "euclidean" and adapter_matrix(model).shape == (32, 32)
    assert log["best_metric"] > log["initial_dev"]["dev_ndcg@10"]
    # everything below W is the frozen encoder, untouched
    import numpy as np

    texts = ["a cat", "stock markets"]
    expected = base.encode(texts, convert_to_numpy=True) @ adapter_matrix(model).T
    np.testing.assert_allclose(model.encode(texts, convert_to_numpy=True), expected, atol=1e-5)


def test_reprojecting_an_index_equals_rebuilding_it_with_the_adapted_model(cli, toy_beir, tiny_model_path, tmp_path):
    from textmetric.index import Index
    from textmetric.index.building import build_index

    fine_tune(toy_beir, tmp_path / "m", model_name=tiny_model_path,
              config=TrainConfig(adapter="linear", loss="triplet", epochs=3, lr=1e-2, **FAST))
    base = load_model(tiny_model_path)
    build_index(base, {f"d{i}": __import__("textmetric").Document(f"text {i}") for i in range(30)},
                tmp_path / "base-idx", model_name=tiny_model_path)
    code, _, err = cli("reproject", "--index", tmp_path / "base-idx", "--model", tmp_path / "m",
                       "--output", tmp_path / "new-idx", "-q")
    assert code == 0, err
    adapted = load_model(tmp_path / "m")
    rebuilt = build_index(adapted, {f"d{i}": __import__("textmetric").Document(f"text {i}") for i in range(30)},
                          tmp_path / "rebuilt-idx", model_name=tmp_path / "m")
    reprojected = Index.load(tmp_path / "new-idx")
    assert reprojected.space == "l2" == rebuilt.space
    queries = adapted.encode(["text 3", "text 17"], convert_to_numpy=True)
    assert [[d for d, _ in h] for h in reprojected.search(queries, 5)] == \
           [[d for d, _ in h] for h in rebuilt.search(queries, 5)]
    code, out, _ = cli("search", "--index", tmp_path / "new-idx", "text 3", "-k", "1", "--json", "-q")
    assert code == 0 and json.loads(out)["hits"][0]["doc_id"] == "d3"


# -- settings out of range, and a run that diverges ----------------------------------------------

@pytest.mark.parametrize("setting", [dict(lr=float("inf")), dict(lr=float("nan")), dict(lr=0.0),
                                     dict(epochs=float("nan")), dict(epochs=float("inf")), dict(warmup=-1.0),
                                     dict(margin=float("nan")), dict(dev_fraction=float("nan")),
                                     dict(dev_fraction=1.0), dict(seed=-1), dict(seed=2**32)])
def test_a_setting_out_of_its_range_is_refused_when_the_config_is_made(setting):
    with pytest.raises(InputError, match=f"^{next(iter(setting))} must be"):
        TrainConfig(**setting)


def test_fine_tune_checks_a_config_changed_after_it_was_made(toy_beir, tiny_model_path, tmp_path, monkeypatch):
    config = TrainConfig(**FAST)
    config.lr = float("inf")
    monkeypatch.setattr("textmetric.training.trainer.load_model", lambda *a, **k: pytest.fail("model loaded"))
    with pytest.raises(InputError, match="lr must be a finite number > 0, got inf"):
        fine_tune(toy_beir, tmp_path / "m", model_name=tiny_model_path, config=config)


class PoisonTheWeights(TrainerCallback):
    """Turns every weight into NaN after the first step, as a learning rate far too high does."""

    def on_step_end(self, args, state, control, model=None, **kwargs):
        import torch

        with torch.no_grad():
            for weights in model.parameters():
                weights.fill_(float("nan"))


def test_a_non_finite_loss_stops_training_and_writes_no_model(toy_beir, tiny_model_path, tmp_path):
    from textmetric.training.divergence import TrainingDiverged

    config = TrainConfig(epochs=1, hard_negatives=None, **FAST)
    with pytest.raises(TrainingDiverged, match="training diverged at step 2: the loss is nan, so no model was written"):
        fine_tune(toy_beir, tmp_path / "m", model_name=tiny_model_path, config=config,
                  callbacks=[PoisonTheWeights()])
    assert not (tmp_path / "m").exists() and not work_folder(tmp_path / "m").exists()


def test_a_model_whose_weights_are_not_finite_is_never_saved(tiny_model, tmp_path):
    import torch

    from textmetric.training.divergence import TrainingDiverged
    from textmetric.training.trainer import _save

    with torch.no_grad():
        next(tiny_model.parameters()).fill_(float("inf"))
    with pytest.raises(TrainingDiverged, match="are no longer finite, so no model was written"):
        _save(tiny_model, tmp_path / "m", {"config": {"lr": 2e-5}})
    assert not (tmp_path / "m").exists()


def test_the_linear_adapter_stops_at_a_non_finite_loss():
    import numpy as np

    from textmetric.training.adapter import train_linear_adapter
    from textmetric.training.divergence import TrainingDiverged

    class NaNLoss:
        def compute_loss_from_embeddings(self, embeddings, labels):
            return (embeddings[0] * float("nan")).sum()

    columns = [np.ones((4, 3), np.float32), np.ones((4, 3), np.float32)]
    with pytest.raises(TrainingDiverged, match="at step 1: the loss is nan"):
        train_linear_adapter(columns, None, NaNLoss(), epochs=1, batch_size=2)


def test_train_refuses_a_learning_rate_of_inf_or_nan_before_the_model_loads(cli, toy_beir, tmp_path):
    for value in ("inf", "nan", "-inf"):
        code, _, err = cli("train", "--data", toy_beir, "--output", tmp_path / "m", "--lr", value,
                           "--model", tmp_path / "no-such-model")
        assert code == 2 and "--lr" in err and "no-such-model" not in err, err
    assert not (tmp_path / "m").exists()
