"""The plumbing the margin losses share: model, :class:`~textmetric.training.distances.Distance`,
a validated margin and reduction, the embedding of each text column, and the model-card config.

Every loss follows sentence-transformers' shape: the constructor takes the model first,
``forward(sentence_features, labels)`` embeds each text column with
``model(features)["sentence_embedding"]`` and hands the embeddings to
``compute_loss_from_embeddings(embeddings, labels)``, where the math lives (and where the
tests check it). ``get_config_dict`` and ``citation`` feed the model card.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from torch import Tensor, nn

from ...errors import InputError
from ..config import RANGES
from ..distances import DEFAULT_DISTANCE, Distance, get_distance, outputs_normalized
from .reduction import check_reduction, reduce
from .registry import get_spec

__all__ = ["MarginLoss", "embed_columns"]


def _check_margin(margin: float, distance: Distance, normalized: bool, what: str) -> float:
    """Reject a margin ≤ 0 or one larger than the distance can ever be (the hinge could never reach 0)."""
    try:
        margin = float(margin)
    except (TypeError, ValueError):
        raise InputError(f"margin must be a number, got {margin!r}") from None
    RANGES["margin"].check("margin", margin)
    largest = distance.max_value(normalized)
    if margin > largest:
        note = " on normalised embeddings" if distance.name == "euclidean" else ""
        raise InputError(f"margin {margin:g} exceeds the largest {distance.name} distance ({largest:g}){note}: "
                         f"the loss could never reach 0{what}")
    return margin


def embed_columns(model: nn.Module, sentence_features: Iterable[dict[str, Tensor]], loss: str) -> list[Tensor]:
    """One ``sentence_embedding`` tensor per text column, after checking the column count against loss ``loss``."""
    features = list(sentence_features)
    needed = get_spec(loss).text_columns
    if len(features) != len(needed):
        raise InputError(f"loss '{loss}' needs {len(needed)} text column(s), got {len(features)}: "
                         f"expected {', '.join(needed)}")
    return [model(f)["sentence_embedding"] for f in features]


class MarginLoss(nn.Module):
    """A loss with a distance d and a margin m: model, distance, validated margin and reduction, model-card config."""

    #: The loss's name in the registry (``losses/registry.py``), which also knows its columns.
    loss_name: ClassVar[str]
    #: Default margins per distance, on unit-normalised embeddings (see the subclasses for why).
    default_margins: ClassVar[dict[str, float]]
    margin_note: ClassVar[str] = ""

    def __init__(self, model: nn.Module, distance: str | Distance = DEFAULT_DISTANCE, margin: float | None = None,
                 reduction: str = "mean") -> None:
        super().__init__()
        self.model = model
        self.distance = get_distance(distance)
        if margin is None:
            if self.distance.name not in self.default_margins:
                raise InputError(f"distance '{self.distance.name}' has no default margin: pass margin=")
            margin = self.default_margins[self.distance.name]
        self.margin = _check_margin(margin, self.distance, outputs_normalized(model), self.margin_note)
        self.reduction = check_reduction(reduction)

    @classmethod
    def from_options(cls, model: nn.Module, *, distance: str | Distance | None = None, margin: float | None = None,
                     reduction: str = "mean", gather_across_devices: bool = False) -> MarginLoss:
        """The loss for ``make_loss``'s options: ``distance`` None is the default; the loss sees its own
        batch only, so ``gather_across_devices`` changes nothing."""
        return cls(model, distance=DEFAULT_DISTANCE if distance is None else distance, margin=margin,
                   reduction=reduction)

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features, self.loss_name),
                                                 labels)

    def compute_loss_from_embeddings(self, embeddings: Sequence[Tensor], labels: Tensor | None = None) -> Tensor:
        raise NotImplementedError

    def _reduce(self, per_item: Tensor) -> Tensor:
        return reduce(per_item, self.reduction)

    def get_config_dict(self) -> dict[str, Any]:
        return {"distance": self.distance.name, "margin": self.margin, "reduction": self.reduction}
