"""What shapes a fine-tuning run: :class:`TrainConfig` and its defaults, the recipe measured best.

Kept apart from the trainer so that reading the defaults (as the CLI does for its options) loads
neither torch nor sentence-transformers.
"""

from __future__ import annotations

from dataclasses import dataclass

from .losses.registry import DEFAULT_LOSS

__all__ = ["TrainConfig", "ADAPTERS", "AUTO_SKIP_TOP", "AUTO_MAX_RANK"]

ADAPTERS = ("linear",)  # what may train on a frozen encoder instead of the whole model

# How `hard_negatives="auto"` mines: the starting model's top 50, skipping the 3 highest-ranked
# non-relevant hits (often relevant documents nobody judged). Chosen on SciFact's dev split
# (benchmarks/finetune_scifact.py): with 3 epochs of mnrl it gives the best dev and test nDCG@10.
AUTO_SKIP_TOP = 3
AUTO_MAX_RANK = 50


@dataclass
class TrainConfig:
    """Everything that shapes a fine-tuning run (recorded in ``training_log.json``).

    The defaults are the best recipe measured on SciFact: mnrl (in-batch negatives) plus
    one hard negative per pair mined from the starting model, 3 epochs, lr 2e-5, batch 32.
    ``batch_size`` is per process, as in Hugging Face: launched on N processes (``torchrun``,
    ``accelerate launch``) a step sees batch_size × N examples, and mnrl's in-batch negatives are
    gathered from all of them. ``hard_negatives`` is ``"auto"`` (mine them when the data is a
    BEIR folder and the loss reads negatives), ``None`` (random negatives where the loss needs
    them) or a ``textmetric mine`` file. ``split`` is the BEIR folder's qrels split that gives the
    training pairs (and the dev split carved from them). ``keep_last`` saves the last checkpoint
    instead of the one best on dev (the starting model included).
    """

    loss: str = DEFAULT_LOSS
    distance: str | None = None
    margin: float | None = None
    epochs: float = 3.0
    batch_size: int = 32
    lr: float = 2e-5
    warmup: float = 0.1
    max_seq_length: int | None = None
    dev_fraction: float = 0.1
    dev_corpus_size: int = 1000
    seed: int = 42
    hard_negatives: str | None = "auto"
    negatives_per_pair: int = 1
    eval_steps: int | None = None
    logging_steps: int = 10
    adapter: str | None = None  # one of ADAPTERS: "linear" trains only W on top of the frozen encoder
    split: str = "train"
    keep_last: bool = False
    # The query and document prompts (see textmetric.Encoder): text, or the name of one of the model's
    # prompts; by default the model's own. The saved model folder keeps them.
    prompts: dict[str, str] | None = None
    prompt_names: dict[str, str] | None = None
