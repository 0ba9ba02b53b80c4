"""Shared fixtures: a tiny randomly initialised BERT (no download) and a tiny BEIR folder."""

from __future__ import annotations

import copy
import json
import logging
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def build_tiny_model(folder: Path, seed: int = 0, dropout: float = 0.1):
    """A 2-layer, hidden-size-32 BERT with the default model's tokenizer, mean pooling, seeded.

    ``dropout`` (BERT's default 0.1) sets its hidden and attention dropout: 0 makes training steps
    deterministic functions of the batch, for runs compared step by step.
    """
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling
    from transformers import AutoTokenizer, BertConfig, BertModel

    from textmetric.encoding import default_model_path

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(default_model_path())
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128,
                        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    encoder_dir = folder / "hf"
    BertModel(config).save_pretrained(encoder_dir)
    tokenizer.save_pretrained(encoder_dir)
    transformer = Transformer(str(encoder_dir), max_seq_length=128)
    model = SentenceTransformer(modules=[transformer, Pooling(32, pooling_mode="mean"), Normalize()],
                                device="cpu")
    model.save(str(folder / "st"))
    return folder / "st"


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    """Folder of a saved tiny sentence-transformers model (for CLI tests)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def _tiny_model(tiny_model_path):
    from textmetric.encoding import load_model

    return load_model(tiny_model_path)


@pytest.fixture
def tiny_model(_tiny_model):
    """The tiny model, deep-copied so that a test may change it."""
    return copy.deepcopy(_tiny_model)


def rewrite_manifest(folder: Path, change, version: int | None = None) -> None:
    """Apply ``change(record)`` to an index's manifest as someone editing it on purpose would, re-signing
    its checksum so that the checks past it are reached; ``version=1`` writes it as the old format,
    which has no checksum."""
    from textmetric.index.folder import manifest_checksum

    path = folder / "manifest.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    change(record)
    record.pop("checksum", None)
    if version is not None:
        record["format_version"] = version
    if record["format_version"] >= 2:
        record["checksum"] = {"sha256": manifest_checksum(record)}
    path.write_text(json.dumps(record), encoding="utf-8")


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def beir_dir(tmp_path) -> Path:
    """A five-document BEIR folder with a test split of three queries."""
    folder = tmp_path / "beir"
    write_jsonl(folder / "corpus.jsonl", [
        {"_id": "d1", "title": "Cats", "text": "Cats are small furry animals that purr."},
        {"_id": "d2", "title": "Dogs", "text": "Dogs bark and love to fetch sticks."},
        {"_id": "d3", "title": "Python", "text": "Python is a programming language."},
        {"_id": "d4", "title": "", "text": "The moon orbits the earth every month."},
        {"_id": "d5", "title": "Bread", "text": "Bake bread with flour, water and yeast."},
    ])
    write_jsonl(folder / "queries.jsonl", [
        {"_id": "q1", "text": "animals that purr"},
        {"_id": "q2", "text": "a programming language"},
        {"_id": "q3", "text": "how to bake bread"},
        {"_id": "q4", "text": "a query judged only in train"},
    ])
    (folder / "qrels").mkdir()
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t2\nq3\td5\t1\nq3\td2\t0\n", encoding="utf-8")
    (folder / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq4\td4\t1\n", encoding="utf-8")
    return folder


@pytest.fixture
def cli(capsys):
    """Run ``textmetric ARGS`` in-process through the real entry point; returns (exit code, stdout, stderr)."""
    from textmetric.cli import main

    def run(*args):
        with pytest.raises(SystemExit) as exit_info:
            main([str(a) for a in args])
        captured = capsys.readouterr()
        return exit_info.value.code, captured.out, captured.err

    return run


TOY_TOPICS = ("apple river mountain guitar doctor rocket garden winter coffee bridge ocean pencil castle engine "
              "forest camera desert violin island tiger hammer planet cookie soldier window candle rabbit bottle "
              "dragon ladder mirror pillow wallet helmet anchor basket blanket button carpet dolphin").split()


def make_toy_beir(folder: Path, seed: int = 0) -> Path:
    """A learnable toy BEIR folder: each query names its topic word, hidden among fillers in one document."""
    import random

    rng = random.Random(seed)
    fillers = "the a some about with and of for many few".split()
    write_jsonl(folder / "corpus.jsonl", [
        {"_id": f"d{i}", "title": "", "text": " ".join(rng.sample([topic, *rng.sample(fillers, 4),
                                                                   *rng.sample(TOY_TOPICS, 3)], 8))}
        for i, topic in enumerate(TOY_TOPICS)])
    write_jsonl(folder / "queries.jsonl", [{"_id": f"q{i}", "text": f"{rng.choice(fillers)} {topic}"}
                                           for i, topic in enumerate(TOY_TOPICS)])
    (folder / "qrels").mkdir(exist_ok=True)
    cut = 2 * len(TOY_TOPICS) // 3
    for split, ids in (("train", range(cut)), ("test", range(cut, len(TOY_TOPICS)))):
        (folder / "qrels" / f"{split}.tsv").write_text(
            "query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}\t1\n" for i in ids), encoding="utf-8")
    return folder


@pytest.fixture
def toy_beir(tmp_path) -> Path:
    return make_toy_beir(tmp_path / "toy")


@pytest.fixture
def warnings_log(caplog):
    """The warnings sent to the "textmetric" logger, whatever the CLI did to its propagation."""
    logger = logging.getLogger("textmetric")
    propagate, level = logger.propagate, logger.level
    logger.addHandler(caplog.handler)
    logger.propagate = False
    logger.setLevel(logging.WARNING)
    caplog.clear()
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)
        logger.propagate, logger.level = propagate, level


def warning_messages(log) -> list[str]:
    return [r.getMessage() for r in log.records
            if r.name == "textmetric" and r.levelno == logging.WARNING]


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray cluster (2 CPUs, no dashboard) shared by every Ray test of the session: starting one costs
    seconds. Skipped only where the ``ray`` extra is not installed (CI installs it)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield ray
    finally:
        ray.shutdown()
