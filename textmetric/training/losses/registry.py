"""One :class:`LossSpec` per loss, in one registry: what the trainer, the data preparation and the CLI read.

A spec says which class implements the loss, which dataset columns it reads (the trainer
passes text columns **by position**: every dataset column except one named
label/labels/score/scores, in dataset order, so column order matters), how training rows
are laid out for it, whether it reads negatives, which batch sampler it needs and what
batch sizes that sampler can fill. Adding a loss is one module in this package and one
line in :data:`LOSS_SPECS`.

The registry imports neither torch nor sentence-transformers: a spec names its class by
module and is imported on first use, so the CLI can offer the loss names at no cost.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Literal, Sequence

from ...errors import InputError
from ..rows import TrainingPair, class_rows, labelled_pair_rows, query_positive_rows, triplet_rows

if TYPE_CHECKING:
    from sentence_transformers.base.sampler import BatchSamplers
    from torch import nn

    from ..distances import Distance

__all__ = ["LossSpec", "LOSS_SPECS", "DEFAULT_LOSS", "LABEL_COLUMNS", "DEFAULT_MINI_BATCH_SIZE", "get_spec",
           "batch_sampler_for", "check_columns", "make_loss"]

#: Column names the sentence-transformers data collator treats as the label (the first one present wins).
LABEL_COLUMNS = ("label", "labels", "score", "scores")

#: Rows the cached losses (GradCache) encode at a time; sentence-transformers' default.
DEFAULT_MINI_BATCH_SIZE = 32

RowBuilder = Callable[[tuple[str, ...], Sequence[TrainingPair]], tuple[tuple[str, ...], list[tuple]]]


@dataclass(frozen=True)
class LossSpec:
    """Everything textmetric needs to know about one loss, apart from its math (which is in its class)."""

    name: str
    #: The module of this package that defines the loss class, and the class's name.
    module: str
    class_name: str
    #: The dataset columns the loss reads, in the order the trainer must see them (the label may sit anywhere).
    columns: tuple[str, ...]
    #: Lays (anchor, positive, negatives) pairs out as rows of ``columns`` (see ``training/rows.py``).
    rows: RowBuilder
    #: Whether the loss reads negatives: "required" (random ones are drawn when none are mined),
    #: "optional" (used when mined or given), "unused".
    negatives: Literal["required", "optional", "unused"]
    #: The ``BatchSamplers`` value for ``SentenceTransformerTrainingArguments(batch_sampler=...)``.
    sampler: str
    #: Any number of further negative columns may follow ``columns`` (negative_1, …, negative_n).
    extra_negative_columns: bool = False
    #: Trains on labelled pairs (text_a, text_b, label) as an example file gives them.
    labelled_pairs: bool = False
    #: The smallest batch the sampler can fill, and whether it must be even.
    min_batch_size: int = 1
    even_batch_size: bool = False
    #: Encodes each batch in chunks of ``mini_batch_size`` rows (GradCache): the batch size is then not bound by memory.
    mini_batches: bool = False

    @property
    def loss_class(self) -> type[nn.Module]:
        """The class implementing the loss (its module is imported now)."""
        return getattr(importlib.import_module(f"{__package__}.{self.module}"), self.class_name)

    @property
    def text_columns(self) -> tuple[str, ...]:
        """:attr:`columns` less the label: the texts the trainer passes, in order."""
        return tuple(c for c in self.columns if c not in LABEL_COLUMNS)

    def build_rows(self, pairs: Sequence[TrainingPair]) -> tuple[tuple[str, ...], list[tuple]]:
        """The columns and rows this loss trains on, from (anchor, positive, negatives) pairs."""
        return self.rows(self.columns, pairs)

    def batch_sampler(self) -> BatchSamplers:
        """The batch sampler as sentence-transformers' enum (imports sentence-transformers)."""
        from sentence_transformers.base.sampler import BatchSamplers

        return BatchSamplers(self.sampler)

    def check_batch_size(self, batch_size: int) -> None:
        """Raise :class:`InputError` unless the sampler can fill batches of ``batch_size``."""
        if batch_size < self.min_batch_size or (self.even_batch_size and batch_size % 2):
            even = " even and" if self.even_batch_size else ""
            why = "groups texts by label" if self.sampler == "group_by_label" else f"batches by {self.sampler}"
            raise InputError(f"loss '{self.name}' {why}: --batch-size must be{even} at least {self.min_batch_size}")

    def check_columns(self, columns: Sequence[str]) -> None:
        """Raise :class:`InputError` unless dataset ``columns`` fit this loss (names and text-column order)."""
        text_needed = self.text_columns
        text_have = tuple(c for c in columns if c not in LABEL_COLUMNS)
        label_ok = any(c in LABEL_COLUMNS for c in columns) == any(c in LABEL_COLUMNS for c in self.columns)
        extra_ok = self.extra_negative_columns or len(text_have) == len(text_needed)
        if text_have[:len(text_needed)] != text_needed or not extra_ok or not label_ok:
            extra = " (then optional negative columns)" if self.extra_negative_columns else ""
            raise InputError(f"loss '{self.name}' needs columns {', '.join(self.columns)}{extra} in that order; "
                             f"the data has {', '.join(columns) or 'none'}")


_LABEL_GROUPS = dict(sampler="group_by_label", min_batch_size=4, even_batch_size=True)
"""Label groups for the miners: every batch holds ≥ 2 classes with ≥ 2 texts each, so an even batch of ≥ 4."""

#: Every loss, by name; the first is the default. mnrl needs batches without duplicates: every other
#: row's positive is a negative, and a duplicate would be a false one.
LOSS_SPECS: dict[str, LossSpec] = {spec.name: spec for spec in (
    LossSpec("mnrl", "mnrl", "MultipleNegativesRankingLoss", ("query", "positive"), query_positive_rows,
             negatives="optional", sampler="no_duplicates", extra_negative_columns=True),
    LossSpec("cached-mnrl", "cached_mnrl", "CachedMultipleNegativesRankingLoss", ("query", "positive"),
             query_positive_rows, negatives="optional", sampler="no_duplicates", extra_negative_columns=True,
             mini_batches=True),
    LossSpec("triplet", "triplet", "TripletLoss", ("anchor", "positive", "negative"), triplet_rows,
             negatives="required", sampler="batch_sampler"),
    LossSpec("contrastive", "contrastive", "ContrastiveLoss", ("text_a", "text_b", "label"), labelled_pair_rows,
             negatives="required", sampler="batch_sampler", labelled_pairs=True),
    LossSpec("batch-hard", "batch_hard", "BatchHardTripletLoss", ("text", "label"), class_rows,
             negatives="unused", **_LABEL_GROUPS),
    LossSpec("batch-semi-hard", "batch_hard", "BatchSemiHardTripletLoss", ("text", "label"), class_rows,
             negatives="unused", **_LABEL_GROUPS),
)}

DEFAULT_LOSS = next(iter(LOSS_SPECS))


def get_spec(name: str) -> LossSpec:
    """The spec of loss ``name`` (case and surrounding spaces ignored); :class:`InputError` if unknown."""
    key = str(name).strip().lower()
    if key not in LOSS_SPECS:
        raise InputError(f"unknown loss '{name}'; choose one of: {', '.join(LOSS_SPECS)}")
    return LOSS_SPECS[key]


def batch_sampler_for(name: str) -> BatchSamplers:
    """The batch sampler loss ``name`` needs."""
    return get_spec(name).batch_sampler()


def check_columns(name: str, columns: Sequence[str]) -> None:
    """Raise :class:`InputError` unless dataset ``columns`` fit loss ``name`` (names and text-column order)."""
    get_spec(name).check_columns(columns)


def make_loss(name: str, model: nn.Module, *, distance: str | Distance | None = None, margin: float | None = None,
              reduction: str = "mean", gather_across_devices: bool = False, mini_batch_size: int | None = None) -> Any:
    """Build loss ``name`` for ``model``; bad names or values raise :class:`InputError`.

    ``distance`` (default Euclidean) and ``margin`` (default: the loss's own per distance) are the
    margin losses'. ``gather_across_devices`` is for in-batch negatives (mnrl; the batch-local
    losses ignore it): in data-parallel training, every process's queries see the positives and
    negatives of all processes. ``mini_batch_size`` is the cached losses' chunk (default
    :data:`DEFAULT_MINI_BATCH_SIZE`); the others refuse it.
    """
    spec = get_spec(name)
    options: dict[str, Any] = {}
    if spec.mini_batches:
        options["mini_batch_size"] = mini_batch_size
    elif mini_batch_size is not None:
        cached = ", ".join(s.name for s in LOSS_SPECS.values() if s.mini_batches)
        raise InputError(f"--mini-batch-size goes with a cached loss ({cached}), not loss '{spec.name}'")
    return spec.loss_class.from_options(model, distance=distance, margin=margin, reduction=reduction,
                                        gather_across_devices=gather_across_devices, **options)
