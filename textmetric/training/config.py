"""What shapes a fine-tuning run: :class:`TrainConfig` and its defaults, the recipe measured best.

Kept apart from the trainer so that reading the defaults (as the CLI does for its options) loads
neither torch nor sentence-transformers.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError, Range, option
from .interpolation import check_interpolation
from .losses.registry import DEFAULT_LOSS, LOSS_SPECS, get_spec
from .throughput import DEFAULT_ATTENTION_DROPOUT, DEFAULT_PRECISION, PRECISIONS

__all__ = ["TrainConfig", "ADAPTERS", "AUTO_LENGTH", "AUTO_LENGTH_CAP", "AUTO_SKIP_TOP", "AUTO_MAX_RANK", "RANGES", "MAX_SEED",
           "DEFAULT_RELATIVE_MARGIN"]

ADAPTERS = ("linear",)  # what may train on a frozen encoder instead of the whole model

# How `hard_negatives="auto"` mines: the starting model's top 50, skipping the 3 highest-ranked
# non-relevant hits (often relevant documents nobody judged). Chosen on SciFact's dev split
# (benchmarks/finetune_scifact.py): with 3 epochs of mnrl it gives the best dev and test nDCG@10.
AUTO_SKIP_TOP = 3
AUTO_MAX_RANK = 50
# A mined document scoring above (1 - relative_margin) x the positive's score is dropped as a likely
# false negative (sentence-transformers' mine_hard_negatives, NV-Retriever's TopK-PercPos). 0: none
# dropped, the recipe measured so far; 0.05 is the value those authors suggest.
DEFAULT_RELATIVE_MARGIN = 0.0

RANGES = {
    "epochs": Range(0, min_open=True),
    "lr": Range(0, min_open=True),
    "warmup": Range(0),  # below 1 a share of the steps, else a number of steps (as Hugging Face reads it)
    "margin": Range(0, min_open=True),  # the losses also refuse one beyond their distance's largest value
    "dev_fraction": Range(0, 1, max_open=True),
    "relative_margin": Range(0, 1, max_open=True),
    "attention_dropout": Range(0, 1, max_open=True),
}
"""The finite values each float setting of :class:`TrainConfig` takes (the CLI's options take the same)."""
AUTO_LENGTH = "auto"
AUTO_LENGTH_CAP = 512  # tokens: BERT-family positions; longer models keep their own length under "auto"
MAX_SEED = 2**32 - 1  # numpy's seeds, which the trainer sets, are unsigned 32-bit integers


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
    epochs: float = 5.0  # at 512 tokens dev nDCG@10 rose every epoch on SciFact (0.835, 0.861, 0.867, 0.874, 0.878)
    batch_size: int = 32
    lr: float = 2e-5
    warmup: float = 0.1
    # Tokens read per text: "auto" raises the model's own length to AUTO_LENGTH_CAP where its positions allow
    # (MiniLM: 256 -> 512; 71 % of SciFact's abstracts are longer than 256); None keeps the model's own.
    max_seq_length: int | str | None = AUTO_LENGTH
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
    # WiSE-FT: the saved weights are (1 - λ)·start + λ·fine-tuned; a λ in [0, 1], "auto" (chosen on the dev
    # split from interpolation.INTERPOLATION_GRID) or None (the fine-tuned weights as they are).
    interpolation: float | str | None = None
    # Mined negatives scoring above (1 - relative_margin) x the positive's score are dropped (0: none are).
    relative_margin: float = DEFAULT_RELATIVE_MARGIN
    # ANCE: mine the hard negatives again with the model being trained before every epoch after the first.
    remine: bool = False
    # The cached-mnrl loss (GradCache) encodes each batch in chunks of this many rows; None: its default.
    mini_batch_size: int | None = None
    # Choose the hybrid fusion (RRF, or score fusion's alpha) on the dev split and keep it in the model folder.
    tune_fusion: bool = False
    # Inverse cloze task: this many (sentence, rest of its document) pairs from documents no query judges.
    pseudo_queries: int = 0
    # Arithmetic: "auto" is bf16 autocast where the hardware multiplies bf16 natively (AMX, AVX-512 BF16, a
    # bf16 GPU), else fp32; it covers training, mining and the dev evaluation. See training/throughput.py.
    precision: str = DEFAULT_PRECISION
    # Dropout on attention weights while training (None: the model's own); 0 lets fused attention run.
    attention_dropout: float | None = DEFAULT_ATTENTION_DROPOUT

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Refuse a setting out of its range (:data:`RANGES`), before any model loads; ``fine_tune`` checks again,
        so a config changed after it was made is caught too."""
        for name, allowed in RANGES.items():
            value = getattr(self, name)
            if value is not None or name not in ("margin", "attention_dropout"):
                allowed.check(name, value)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            raise InputError(f"{option('seed')} must be a whole number from 0 to {MAX_SEED}, got {self.seed!r}")
        check_interpolation(self.interpolation)
        length = self.max_seq_length
        if length not in (None, AUTO_LENGTH) and (isinstance(length, bool) or not isinstance(length, int) or length < 1):
            raise InputError(f"{option('max_seq_length')} must be a whole number of tokens of at least 1 or "
                             f"'{AUTO_LENGTH}', got {length!r}")
        if self.precision not in PRECISIONS:
            raise InputError(f"{option('precision')} must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        for name, least in (("negatives_per_pair", 1), ("mini_batch_size", 1), ("pseudo_queries", 0)):
            value = getattr(self, name)
            if value is None and name == "mini_batch_size":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise InputError(f"{option(name)} must be a whole number of at least {least}, got {value!r}")
        if self.mini_batch_size is not None and not get_spec(self.loss).mini_batches:
            cached = ", ".join(spec.name for spec in LOSS_SPECS.values() if spec.mini_batches)
            raise InputError(f"{option('mini_batch_size')} goes with a cached loss ({cached}), not loss '{self.loss}'")
        if self.relative_margin > 0 and self.hard_negatives != "auto":
            raise InputError(f"{option('relative_margin')} drops likely false negatives while mining: it goes with "
                             f"{option('hard_negatives', '--hard-negatives auto', 'auto')}")
        if self.remine and self.hard_negatives != "auto":
            raise InputError(f"{option('remine', '--remine-every-epoch')} mines negatives again with the model "
                             f"being trained: it goes with {option('hard_negatives', '--hard-negatives auto', 'auto')}")
