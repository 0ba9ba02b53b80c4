"""Metric-learning losses that plug into the sentence-transformers trainer unchanged.

One module per loss (``contrastive``, ``triplet``, ``batch_hard``, ``mnrl``, ``cached_mnrl``), each class with
its inputs table; the shared margin plumbing in ``margin``, the reduction in ``reduction``, and
one :class:`LossSpec` per loss in ``registry`` (columns, row layout, negatives, batch sampler
and batch sizes). Distances and miners are separate pieces (``training/distances.py``,
``training/miners.py``), as in pytorch-metric-learning.

The registry's names are imported here; the loss classes on first use (they load torch and
sentence-transformers), e.g. ``from textmetric.training.losses import TripletLoss``.
"""

from .registry import (DEFAULT_LOSS, DEFAULT_MINI_BATCH_SIZE, LABEL_COLUMNS, LOSS_SPECS, LossSpec, batch_sampler_for,
                       check_columns, get_spec, make_loss)

__all__ = ["DEFAULT_LOSS", "DEFAULT_MINI_BATCH_SIZE", "LABEL_COLUMNS", "LOSS_SPECS", "LossSpec", "batch_sampler_for",
           "check_columns", "get_spec", "make_loss", *(spec.class_name for spec in LOSS_SPECS.values())]


def __getattr__(name: str):
    """A loss class by its name, imported now (see :attr:`LossSpec.loss_class`)."""
    for spec in LOSS_SPECS.values():
        if spec.class_name == name:
            return spec.loss_class
    raise AttributeError(f"module '{__name__}' has no attribute '{name}'")
