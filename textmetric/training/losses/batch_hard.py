"""The triplet loss over triplets mined in the batch: batch-hard (Hermans et al., 2017) and semi-hard (FaceNet)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

import torch.nn.functional as F
from torch import Tensor

from ...errors import InputError
from ..miners import mine_batch_hard, mine_batch_semi_hard
from .margin import MarginLoss
from .triplet import FACENET, TripletLoss

__all__ = ["BatchHardTripletLoss", "BatchSemiHardTripletLoss"]


class MinedTripletLoss(MarginLoss):
    """The triplet hinge ``max(0, d(a, p) − d(a, n) + m)`` over the triplets a miner picks in a labelled batch."""

    default_margins = TripletLoss.default_margins
    #: Picks ``(k, 3)`` index triplets from the batch's distance matrix and labels (see ``training/miners.py``).
    miner: ClassVar[Callable[[Tensor, Tensor], Tensor]]

    def compute_loss_from_embeddings(self, embeddings: Sequence[Tensor], labels: Tensor | None = None) -> Tensor:
        """``Σ max(0, d(a, p) − d(a, n) + m)`` over the mined triplets of ``embeddings[0]`` (``(n, dim)``).

        ``reduction="mean"`` divides by the number of mined triplets; with none, the loss is 0
        (still attached to the graph, so ``backward`` works).
        """
        batch = embeddings[0]
        if labels is None:
            raise InputError(f"loss '{self.loss_name}' needs a label column of class ids")
        labels = labels.reshape(-1)
        if labels.numel() != batch.size(0):
            raise InputError(f"loss '{self.loss_name}' needs one label per text: "
                             f"{batch.size(0)} texts, {labels.numel()} labels")
        distances = self.distance.matrix(batch)
        triplets = type(self).miner(distances, labels)
        if not len(triplets):
            return batch.sum() * 0.0
        a, p, n = triplets.unbind(dim=1)
        return self._reduce(F.relu(distances[a, p] - distances[a, n] + self.margin))

    def mine(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        """The ``(k, 3)`` index triplets this loss would use for ``embeddings`` and ``labels``."""
        return type(self).miner(self.distance.matrix(embeddings), labels)


class BatchHardTripletLoss(MinedTripletLoss):
    """Triplet loss over batch-hard triplets: per anchor, the farthest positive and the closest negative.

    Triplets come from :func:`~textmetric.training.miners.mine_batch_hard`. Needs batches
    holding at least two texts of a class: train with ``BatchSamplers.GROUP_BY_LABEL``.

    Inputs:
        +------------------+-----------------+
        | Texts            | Labels          |
        +==================+=================+
        | single texts     | class id        |
        +------------------+-----------------+
    """

    loss_name = "batch-hard"
    miner = staticmethod(mine_batch_hard)

    @property
    def citation(self) -> str:
        return """
@misc{hermans2017defense,
    title={In Defense of the Triplet Loss for Person Re-Identification},
    author={Alexander Hermans and Lucas Beyer and Bastian Leibe},
    year={2017},
    eprint={1703.07737},
    archivePrefix={arXiv},
    primaryClass={cs.CV}
}
"""


class BatchSemiHardTripletLoss(MinedTripletLoss):
    """Triplet loss over every same-label pair with its semi-hard negative (FaceNet's rule).

    Triplets come from :func:`~textmetric.training.miners.mine_batch_semi_hard`; train with
    ``BatchSamplers.GROUP_BY_LABEL``. When every anchor has a negative in the batch, the value
    equals sentence-transformers' BatchSemiHardTripletLoss with the same distance and margin.

    Inputs:
        +------------------+-----------------+
        | Texts            | Labels          |
        +==================+=================+
        | single texts     | class id        |
        +------------------+-----------------+
    """

    loss_name = "batch-semi-hard"
    miner = staticmethod(mine_batch_semi_hard)

    @property
    def citation(self) -> str:
        return FACENET
