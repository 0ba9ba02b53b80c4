"""mnrl through GradCache: large in-batch-negative batches in the memory of small ones (Gao et al., 2021).

sentence-transformers' CachedMultipleNegativesRankingLoss: the batch is encoded without gradients
in chunks of ``mini_batch_size`` rows, the loss over the whole batch is computed and its gradient
with respect to the embeddings cached, then each chunk is encoded again with gradients and the
cached gradient passed through it. The loss and the gradient are mnrl's on the whole batch; only
peak memory depends on the chunk, so ``--batch-size`` (the number of in-batch negatives) can grow
on a CPU or a small GPU.
"""

from __future__ import annotations

from typing import Any

from sentence_transformers.sentence_transformer import losses as _st_losses
from torch import nn

from ...errors import InputError
from .registry import DEFAULT_MINI_BATCH_SIZE

__all__ = ["CachedMultipleNegativesRankingLoss"]


class CachedMultipleNegativesRankingLoss(_st_losses.CachedMultipleNegativesRankingLoss):
    """mnrl's loss (cross-entropy of ``20 · cos`` over the batch's documents), computed by GradCache.

    Inputs: those of mnrl (:class:`~textmetric.training.losses.mnrl.MultipleNegativesRankingLoss`), (query,
    positive) pairs with optional negative columns, no labels.
    """

    loss_name = "cached-mnrl"

    @classmethod
    def from_options(cls, model: nn.Module, *, distance: Any = None, margin: float | None = None,
                     reduction: str = "mean", gather_across_devices: bool = False,
                     mini_batch_size: int | None = None) -> CachedMultipleNegativesRankingLoss:
        """The loss for ``make_loss``'s options; a distance, a margin or a reduction other than the mean is refused."""
        if distance is not None or margin is not None:
            raise InputError("loss 'cached-mnrl' uses scaled cosine similarity and takes no distance or margin")
        if reduction != "mean":
            raise InputError(f"loss 'cached-mnrl' averages over the batch: reduction '{reduction}' is not offered")
        size = DEFAULT_MINI_BATCH_SIZE if mini_batch_size is None else mini_batch_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise InputError(f"--mini-batch-size must be a whole number of at least 1, got {size!r}")
        return cls(model, mini_batch_size=size, gather_across_devices=gather_across_devices)
