"""The triplet loss (Weinberger and Saul, 2009; Schroff et al., FaceNet, 2015) over given triplets."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor

from .margin import MarginLoss

__all__ = ["TripletLoss", "FACENET"]

FACENET = """
@inproceedings{schroff2015facenet,
    title={FaceNet: A Unified Embedding for Face Recognition and Clustering},
    author={Schroff, Florian and Kalenichenko, Dmitry and Philbin, James},
    booktitle={Proceedings of the IEEE Conference on Computer Vision and Pattern Recognition (CVPR)},
    year={2015},
}
"""


class TripletLoss(MarginLoss):
    """``L = Σ_i max(0, d(a_i, p_i) − d(a_i, n_i) + m)``: each negative farther than its positive by m.

    ``d`` is a :class:`~textmetric.training.distances.Distance` (Euclidean by default).
    ``reduction="mean"`` (default) divides the sum by the number of triplets, ``"sum"`` is the
    formula as written.

    Inputs:
        +---------------------------------------+--------+
        | Texts                                 | Labels |
        +=======================================+========+
        | (anchor, positive, negative) triplets | none   |
        +---------------------------------------+--------+
    """

    loss_name = "triplet"
    # The negative must be farther than the positive by a quarter of the distance's range on
    # the unit sphere (Euclidean 2 → 0.5, cosine 2 → 0.5, angular 1 → 0.25): a real gap that
    # most triplets can still satisfy, so the loss stops pushing once the order is clear.
    default_margins = {"euclidean": 0.5, "cosine": 0.5, "angular": 0.25}

    def compute_loss_from_embeddings(self, embeddings: Sequence[Tensor], labels: Tensor | None = None) -> Tensor:
        """The loss of triplets ``embeddings = [a, p, n]`` (each ``(n, dim)``); labels are ignored."""
        anchor, positive, negative = embeddings
        return self._reduce(F.relu(self.distance(anchor, positive) - self.distance(anchor, negative) + self.margin))

    @property
    def citation(self) -> str:
        return FACENET
