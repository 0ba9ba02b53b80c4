"""In-batch negatives (InfoNCE): sentence-transformers' MultipleNegativesRankingLoss with a ``reduction`` option."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sentence_transformers.sentence_transformer import losses as _st_losses
from sentence_transformers.util import cos_sim
from torch import Tensor, nn

from ...errors import InputError
from .reduction import check_reduction

__all__ = ["MultipleNegativesRankingLoss"]


class MultipleNegativesRankingLoss(_st_losses.MultipleNegativesRankingLoss):
    """For each query, cross-entropy of ``scale · cos`` against all positives and negatives in the batch.

    Every other row's positive counts as a negative, so train with ``BatchSamplers.NO_DUPLICATES``
    lest a duplicate become a false negative. With ``gather_across_devices`` (data-parallel
    training), every process's queries are scored against the positives and negatives of all
    processes. ``reduction="mean"`` (default, sentence-transformers' own) averages over
    queries; ``"sum"`` multiplies that by the batch size.

    Inputs:
        +-------------------------------------------------+--------+
        | Texts                                           | Labels |
        +=================================================+========+
        | (query, positive) pairs                         | none   |
        +-------------------------------------------------+--------+
        | (query, positive, negative_1, …, negative_n)    | none   |
        +-------------------------------------------------+--------+
    """

    loss_name = "mnrl"

    def __init__(self, model: nn.Module, scale: float = 20.0,
                 similarity_fct: Callable[[Tensor, Tensor], Tensor] = cos_sim, reduction: str = "mean",
                 **kwargs: Any) -> None:
        super().__init__(model, scale=scale, similarity_fct=similarity_fct, **kwargs)
        self.reduction = check_reduction(reduction)

    @classmethod
    def from_options(cls, model: nn.Module, *, distance: Any = None, margin: float | None = None,
                     reduction: str = "mean", gather_across_devices: bool = False) -> MultipleNegativesRankingLoss:
        """The loss for ``make_loss``'s options; a distance or a margin is refused (it has neither)."""
        if distance is not None or margin is not None:
            raise InputError("loss 'mnrl' uses scaled cosine similarity and takes no distance or margin")
        return cls(model, reduction=reduction, gather_across_devices=gather_across_devices)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None = None) -> Tensor:
        loss = super().compute_loss_from_embeddings(embeddings, labels)
        return loss * embeddings[0].size(0) if self.reduction == "sum" else loss

    def get_config_dict(self) -> dict[str, Any]:
        return {**super().get_config_dict(), "reduction": self.reduction}
