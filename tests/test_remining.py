"""Hard negatives mined again before each epoch by the model being trained (ANCE-style)."""

import pytest

from conftest import make_toy_beir
from textmetric.data import load_beir
from textmetric.encoding import load_model
from textmetric.errors import InputError
from textmetric.training.config import TrainConfig
from textmetric.training.trainer import fine_tune

FAST = dict(batch_size=8, dev_fraction=0.25, logging_steps=2, lr=1e-3, epochs=3, remine=True, negatives_per_pair=2)


@pytest.fixture(scope="module")
def remined(tmp_path_factory, tiny_model_path):
    """A 3-epoch run that re-mines before epochs 2 and 3, with every epoch's rows as the data loader served them."""
    from transformers import TrainerCallback

    root = tmp_path_factory.mktemp("remine")
    toy = make_toy_beir(root / "toy")
    served: dict[int, list] = {}

    class Served(TrainerCallback):
        def on_step_begin(self, args, state, control, train_dataloader=None, **kwargs):
            epoch = int(state.epoch or 0)
            if epoch not in served and train_dataloader is not None:
                dataset = train_dataloader.dataset
                served[epoch] = [tuple(dataset[i].values()) for i in range(len(dataset))]

    log = fine_tune(toy, root / "model", model_name=tiny_model_path, config=TrainConfig(**FAST), callbacks=[Served()])
    return log, toy, served


def test_training_runs_the_requested_epochs_and_re_mines_before_each_but_the_first(remined):
    log, _, served = remined
    assert max(h["epoch"] for h in log["history"] if "epoch" in h) == pytest.approx(3)
    assert [record["epoch"] for record in log["remined"]] == [1, 2]
    assert set(served) == {0, 1, 2}


def test_the_rows_change_after_the_first_epoch(remined):
    log, _, served = remined
    assert log["remined"][0]["changed_rows"] > 0
    assert served[1] != served[0] and len(served[1]) == len(served[0])
    assert {row[:2] for row in served[1]} == {row[:2] for row in served[0]}  # the same (query, positive) pairs


def test_re_mined_negatives_are_never_documents_judged_relevant_to_their_query(remined):
    _, toy, served = remined
    data = load_beir(toy, "train")
    text_of_query = {text: q for q, text in data.queries.items()}
    relevant_texts = {q: {data.corpus[d].full_text for d, g in judged.items() if g >= 1}
                      for q, judged in data.qrels.items()}
    for rows in served.values():
        for query, _, *negatives in rows:
            assert not set(negatives) & relevant_texts[text_of_query[query]]


def test_re_mining_never_brings_in_a_dev_query(remined, tiny_model_path):
    from textmetric.training.training_set import prepare_training_set

    _, toy, served = remined
    training = prepare_training_set(toy, TrainConfig(**FAST), load_model(tiny_model_path))
    assert not set(training.dev_queries.values()) & {row[0] for rows in served.values() for row in rows}


def test_re_mining_without_mining_is_refused():
    with pytest.raises(InputError, match="remine"):
        TrainConfig(remine=True, hard_negatives=None)


def test_re_mining_for_a_loss_without_negatives_is_refused(toy_beir, tiny_model_path, tmp_path):
    with pytest.raises(InputError, match="reads no negatives"):
        fine_tune(toy_beir, tmp_path / "m", model_name=tiny_model_path,
                  config=TrainConfig(loss="batch-hard", remine=True, batch_size=4))


def test_train_cli_refuses_re_mining_without_mining_in_one_line(cli, toy_beir, tmp_path):
    code, _, err = cli("train", "--data", toy_beir, "--output", tmp_path / "m", "--remine-every-epoch",
                       "--hard-negatives", "none")
    assert code == 2 and "--remine-every-epoch" in err and len(err.strip().splitlines()) == 1
