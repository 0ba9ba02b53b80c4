"""Training at the hardware's speed: bf16 autocast where it is native, attention without dropout."""

import json

import pytest
import torch
from click.testing import CliRunner

from conftest import make_toy_beir
from textmetric.cli import cli
from textmetric.encoding import load_model
from textmetric.errors import InputError
from textmetric.training import throughput
from textmetric.training.config import TrainConfig
from textmetric.training.trainer import fine_tune


def _attention_dropouts(model) -> list[float]:
    return [m.dropout.p for m in model.modules() if type(m).__name__ == "BertSelfAttention"]


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_is_bf16_exactly_where_the_cpu_multiplies_it_natively(monkeypatch, native):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: native)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native)
    assert throughput.resolve_precision("auto") == ("bf16" if native else "fp32")
    assert throughput.resolve_precision("fp32") == "fp32" and throughput.resolve_precision("bf16") == "bf16"


def test_attention_dropout_is_set_in_every_layer_for_the_block_and_restored_after(tiny_model_path):
    model = load_model(tiny_model_path)
    before = _attention_dropouts(model)
    assert len(before) == 2 and all(p > 0 for p in before)
    with throughput.attention_dropout(model, 0.0) as layers:
        assert layers == 2 and _attention_dropouts(model) == [0.0, 0.0]
    assert _attention_dropouts(model) == before
    with throughput.attention_dropout(model, None) as layers:
        assert layers == 0 and _attention_dropouts(model) == before


def test_autocast_bf16_computes_in_bf16_and_fp32_changes_nothing():
    a = torch.ones(4, 4)
    with throughput.autocast("bf16"):
        assert (a @ a).dtype == torch.bfloat16
    with throughput.autocast("fp32"):
        assert (a @ a).dtype == torch.float32


@pytest.mark.parametrize("settings, message", [
    ({"precision": "fp16"}, "precision"), ({"attention_dropout": 1.0}, "attention"),
    ({"attention_dropout": -0.1}, "attention")])
def test_an_unknown_precision_or_an_attention_dropout_outside_0_to_1_is_refused(settings, message):
    with pytest.raises(InputError, match=message):
        TrainConfig(**settings)


FAST = dict(epochs=1, batch_size=8, dev_fraction=0.25)


def test_bf16_training_keeps_fp32_weights_and_records_its_precision(tiny_model_path, tmp_path):
    log = fine_tune(make_toy_beir(tmp_path / "toy"), tmp_path / "m", model_name=tiny_model_path,
                    config=TrainConfig(precision="bf16", **FAST))
    assert log["precision"] == "bf16"
    saved = load_model(tmp_path / "m")
    assert {p.dtype for p in saved.parameters()} == {torch.float32}
    assert all(torch.isfinite(p).all() for p in saved.parameters())


def test_training_without_attention_dropout_saves_the_models_own_dropout_setting(tiny_model_path, tmp_path):
    fine_tune(make_toy_beir(tmp_path / "toy"), tmp_path / "m", model_name=tiny_model_path,
              config=TrainConfig(attention_dropout=0.0, keep_last=True, **FAST))
    start = json.loads((tiny_model_path / "config.json").read_text())["attention_probs_dropout_prob"]
    assert json.loads((tmp_path / "m" / "config.json").read_text())["attention_probs_dropout_prob"] == start > 0


def test_the_cli_refuses_an_unknown_precision_before_any_work(beir_dir, tmp_path):
    result = CliRunner().invoke(cli, ["train", "--data", str(beir_dir), "--output", str(tmp_path / "m"),
                                      "--precision", "fp16"])
    assert result.exit_code == 2 and "fp16" in result.output and not (tmp_path / "m").exists()


@pytest.fixture
def short_model(tiny_model_path, tmp_path):
    """The tiny model (128 positions) saved reading only 32 tokens per text."""
    model = load_model(tiny_model_path)
    model.max_seq_length = 32
    model.save(str(tmp_path / "short"))
    return tmp_path / "short"


def test_auto_length_raises_the_models_own_to_what_its_positions_read_and_the_saved_model_keeps_it(
        short_model, tmp_path):
    log = fine_tune(make_toy_beir(tmp_path / "toy"), tmp_path / "m", model_name=short_model,
                    config=TrainConfig(keep_last=True, **FAST))
    assert TrainConfig().max_seq_length == "auto"
    assert log["max_seq_length"] == 128 and load_model(tmp_path / "m").max_seq_length == 128


def test_no_length_keeps_the_models_own(short_model, tmp_path):
    fine_tune(make_toy_beir(tmp_path / "toy"), tmp_path / "m", model_name=short_model,
              config=TrainConfig(max_seq_length=None, keep_last=True, **FAST))
    assert load_model(tmp_path / "m").max_seq_length == 32


@pytest.mark.parametrize("length", [0, "long", 1.5, True])
def test_a_length_neither_a_positive_whole_number_nor_auto_is_refused(length):
    with pytest.raises(InputError, match="max_seq_length"):
        TrainConfig(max_seq_length=length)


def test_the_cli_takes_auto_or_a_number_of_tokens_and_refuses_other_lengths(tmp_path):
    result = CliRunner().invoke(cli, ["train", "--data", str(tmp_path), "--output", str(tmp_path / "m"),
                                      "--max-seq-length", "long"])
    assert result.exit_code == 2 and "'long' is neither a number of tokens" in result.output
