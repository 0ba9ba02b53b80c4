"""The contrastive loss of Hadsell, Chopra and LeCun (2006) over labelled pairs."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor

from ...errors import InputError
from .margin import MarginLoss

__all__ = ["ContrastiveLoss"]


class ContrastiveLoss(MarginLoss):
    """``L = Σ_i y_i·d(x_i, x_i')² + (1 − y_i)·max(0, m − d(x_i, x_i'))²`` (Hadsell, Chopra and LeCun, 2006).

    Similar pairs (y = 1) are pulled together; dissimilar ones (y = 0) pushed at least ``m``
    apart. ``d`` is a :class:`~textmetric.training.distances.Distance` (Euclidean by default).
    ``reduction="mean"`` (default) divides the sum by the number of pairs, ``"sum"`` is the
    formula as written.

    Inputs:
        +-------------------------------+-----------------------------+
        | Texts                         | Labels                      |
        +===============================+=============================+
        | (text_a, text_b) pairs        | 1 similar, 0 dissimilar     |
        +-------------------------------+-----------------------------+
    """

    loss_name = "contrastive"
    # Dissimilar pairs are pushed at least 60° apart on the unit sphere, the same angle in
    # every distance: cosine 1 − cos 60° = 0.5 (sentence-transformers' ContrastiveLoss
    # default), Euclidean chord √(2 − 2·0.5) = 1, angular 60°/180° = 1/3. Unrelated texts
    # typically sit at cos 0–0.3, so this asks for separation without forcing orthogonality.
    default_margins = {"euclidean": 1.0, "cosine": 0.5, "angular": 1.0 / 3.0}
    margin_note = " for a dissimilar pair"

    def compute_loss_from_embeddings(self, embeddings: Sequence[Tensor], labels: Tensor | None = None) -> Tensor:
        """The loss of pairs ``embeddings = [x, x']`` (each ``(n, dim)``) with labels ``y`` of shape ``(n,)``."""
        x, x_prime = embeddings
        if labels is None:
            raise InputError("loss 'contrastive' needs a label column: 1 for similar pairs, 0 for dissimilar")
        labels = labels.reshape(-1).to(x.device)
        if labels.numel() != x.size(0):
            raise InputError(f"loss 'contrastive' needs one label per pair: {x.size(0)} pairs, {labels.numel()} labels")
        bad = labels[(labels != 0) & (labels != 1)]
        if bad.numel():
            raise InputError(f"contrastive labels must be 0 (dissimilar) or 1 (similar), got {bad[0].item():g}")
        y = labels.to(x.dtype)
        d = self.distance(x, x_prime)
        return self._reduce(y * d.pow(2) + (1 - y) * F.relu(self.margin - d).pow(2))

    @property
    def citation(self) -> str:
        return """
@inproceedings{hadsell2006dimensionality,
    title={Dimensionality Reduction by Learning an Invariant Mapping},
    author={Hadsell, Raia and Chopra, Sumit and LeCun, Yann},
    booktitle={2006 IEEE Computer Society Conference on Computer Vision and Pattern Recognition (CVPR'06)},
    year={2006},
}
"""
