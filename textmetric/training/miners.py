"""In-batch miners: a batch's distance matrix and class labels → ``(anchor, positive, negative)`` index triplets.

Apart from the losses, as in pytorch-metric-learning: a miner only picks triplets, and
any loss that consumes index triplets (here the mined triplet losses of
``losses/batch_hard.py``) can use any miner.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["mine_batch_hard", "mine_batch_semi_hard"]


def _label_masks(labels: Tensor) -> tuple[Tensor, Tensor]:
    """``(positive, negative)`` boolean masks: same label and not the anchor itself; different label."""
    labels = labels.reshape(-1)
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(labels.numel(), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def mine_batch_hard(distances: Tensor, labels: Tensor) -> Tensor:
    """Index triplets ``(a, p, n)``, one per anchor: the farthest same-label p and the closest other-label n.

    ``distances`` is the batch's ``(n, n)`` distance matrix, ``labels`` its ``(n,)`` class labels.
    Anchors without a positive or without a negative in the batch are skipped. Returns ``(k, 3)`` long.
    """
    positive, negative = _label_masks(labels.to(distances.device))
    distances = distances.detach()
    hardest_positive = distances.masked_fill(~positive, -math.inf).argmax(dim=1)
    hardest_negative = distances.masked_fill(~negative, math.inf).argmin(dim=1)
    anchors = (positive.any(dim=1) & negative.any(dim=1)).nonzero().reshape(-1)
    return torch.stack([anchors, hardest_positive[anchors], hardest_negative[anchors]], dim=1)


def mine_batch_semi_hard(distances: Tensor, labels: Tensor) -> Tensor:
    """Index triplets ``(a, p, n)``, one per same-label pair (a, p), with FaceNet's semi-hard negative.

    The rule (TensorFlow Addons' ``triplet_semihard_loss``, which sentence-transformers'
    BatchSemiHardTripletLoss copies): n is the closest negative strictly farther than the
    positive, ``argmin{d(a,n) : d(a,n) > d(a,p)}``; when it lies beyond the margin the hinge
    is simply 0, so it is the semi-hard negative whenever one exists. If no negative is
    farther than the positive, n is the *farthest* negative ``argmax d(a,n)`` (the least hard
    of the hard ones: FaceNet avoids the hardest negatives, which collapse training early).
    Anchors with no negative in the batch are skipped. Returns ``(k, 3)`` long.
    """
    positive, negative = _label_masks(labels.to(distances.device))
    distances = distances.detach()
    anchors, positives = positive.nonzero(as_tuple=True)
    to_positive = distances[anchors, positives][:, None]
    rows, negatives = distances[anchors], negative[anchors]
    farther = negatives & (rows > to_positive)
    semi_hard = rows.masked_fill(~farther, math.inf).argmin(dim=1)
    farthest = rows.masked_fill(~negatives, -math.inf).argmax(dim=1)
    chosen = torch.where(farther.any(dim=1), semi_hard, farthest)
    keep = negatives.any(dim=1)
    return torch.stack([anchors, positives, chosen], dim=1)[keep]
