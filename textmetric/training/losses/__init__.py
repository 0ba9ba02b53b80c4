"""Metric-learning losses that plug into the sentence-transformers trainer unchanged.

The pieces are separate, as in pytorch-metric-learning: a :class:`Distance` (a
parameter of every margin loss, knowing whether it is a true metric and how large
it can get), miners that turn a batch's labels into ``(anchor, positive, negative)``
index triplets, and losses that consume distances or triplets.

Every loss follows sentence-transformers' shape: the constructor takes the model
first, ``forward(sentence_features, labels)`` embeds each text column with
``model(features)["sentence_embedding"]`` and hands the embeddings to
``compute_loss_from_embeddings(embeddings, labels)``, where the math lives (and
where the tests check it). ``get_config_dict`` and ``citation`` feed the model card.

The trainer gives a loss its text columns **by position** (every dataset column
except one named label/labels/score/scores, in dataset order), so column order
matters: see :data:`LOSS_COLUMNS` and :func:`check_columns`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from sentence_transformers.base.sampler import BatchSamplers
from sentence_transformers.sentence_transformer import losses as _st_losses
from sentence_transformers.util import cos_sim
from torch import Tensor, nn

from ...errors import InputError

__all__ = [
    "Distance", "Euclidean", "CosineDistance", "Angular", "DISTANCES", "get_distance",
    "mine_batch_hard", "mine_batch_semi_hard",
    "ContrastiveLoss", "TripletLoss", "BatchHardTripletLoss", "BatchSemiHardTripletLoss",
    "MultipleNegativesRankingLoss", "LOSSES", "LOSS_COLUMNS", "LABEL_COLUMNS", "BATCH_SAMPLERS",
    "NO_DUPLICATES", "batch_sampler_for", "check_columns", "make_loss", "outputs_normalized",
]

REDUCTIONS = ("mean", "sum")

#: Column names the sentence-transformers data collator treats as the label (the first one present wins).
LABEL_COLUMNS = ("label", "labels", "score", "scores")


# --------------------------------------------------------------------------- distances

def _safe_sqrt(squared: Tensor) -> Tensor:
    """``sqrt(max(squared, 0))``, exactly 0 with a zero (finite) gradient where ``squared`` is 0.

    Chosen over ``sqrt(s + eps)`` (which makes d(x, x) = sqrt(eps) ≠ 0) and over a clamp at eps
    (which zeroes the gradient of every distance below sqrt(eps)): values are exact and only the
    point s = 0 itself, where the Euclidean norm has no derivative, gets the subgradient 0.
    """
    squared = squared.clamp_min(0)
    positive = squared > 0
    inner = torch.where(positive, squared, torch.ones_like(squared))
    return torch.where(positive, inner.sqrt(), torch.zeros_like(squared))


def _self_distance_zero(matrix: Tensor) -> Tensor:
    """Set the diagonal of a square self-distance matrix to exactly 0 (rounding can leave ~1e-4)."""
    eye = torch.eye(matrix.size(0), dtype=torch.bool, device=matrix.device)
    return matrix.masked_fill(eye, 0.0)


class Distance:
    """A distance between embeddings: row-wise ``d(x_i, y_i)`` by calling it, all pairs by :meth:`matrix`.

    ``is_metric`` says whether the triangle inequality holds; :meth:`max_value` bounds the
    distance so that a loss can reject a margin it could never satisfy.
    """

    name: ClassVar[str] = "distance"
    is_metric: ClassVar[bool] = False

    def max_value(self, normalized: bool) -> float:
        """The largest value the distance can take (``math.inf`` if unbounded)."""
        raise NotImplementedError

    def __call__(self, x: Tensor, y: Tensor) -> Tensor:
        """``d(x_i, y_i)`` for each row: shape ``(n,)`` from two ``(n, dim)`` tensors."""
        raise NotImplementedError

    def matrix(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """All pairs ``d(x_i, y_j)``: shape ``(n, m)``; ``y=None`` means ``x`` against itself (diagonal exactly 0)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


class Euclidean(Distance):
    """``‖x − y‖₂``: a true metric; at most 2 on unit-normalised embeddings, unbounded otherwise.

    Row-wise it sums squared differences (exact, 0 at x == y); the matrix uses
    ``‖x‖² + ‖y‖² − 2x·y`` (memory n·m instead of n·m·dim), so near-duplicates lose some
    precision to cancellation. Both take the square root with :func:`_safe_sqrt`, whose
    gradient is finite (0) at x == y.
    """

    name = "euclidean"
    is_metric = True

    def max_value(self, normalized: bool) -> float:
        return 2.0 if normalized else math.inf

    def __call__(self, x: Tensor, y: Tensor) -> Tensor:
        return _safe_sqrt(((x - y) ** 2).sum(dim=-1))

    def matrix(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        other = x if y is None else y
        squared = (x * x).sum(1, keepdim=True) + (other * other).sum(1)[None, :] - 2.0 * x @ other.T
        distances = _safe_sqrt(squared)
        return _self_distance_zero(distances) if y is None else distances


class CosineDistance(Distance):
    """``1 − cos(x, y)``, in [0, 2]. NOT a metric: it breaks the triangle inequality.

    E.g. x = (1, 0), y = (1, 1)/√2, z = (0, 1): d(x, z) = 1 > d(x, y) + d(y, z) = 2 − √2 ≈ 0.59.
    Row-wise it is computed as ``‖x̂ − ŷ‖² / 2`` (x̂, ŷ normalised), the same value without the
    cancellation of ``1 − cos`` near 0, so d(x, x) is exactly 0. The matrix form uses the Gram
    matrix, with the cosine clamped to [−1, 1] against rounding (the clamp passes gradients at its bounds).
    """

    name = "cosine"
    is_metric = False

    def max_value(self, normalized: bool) -> float:
        return 2.0

    def __call__(self, x: Tensor, y: Tensor) -> Tensor:
        return ((F.normalize(x, dim=-1) - F.normalize(y, dim=-1)) ** 2).sum(dim=-1) / 2.0

    def matrix(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        x_hat = F.normalize(x, dim=-1)
        other = x_hat if y is None else F.normalize(y, dim=-1)
        distances = 1.0 - (x_hat @ other.T).clamp(-1.0, 1.0)
        return _self_distance_zero(distances) if y is None else distances


class Angular(Distance):
    """``arccos(cos(x, y)) / π``, in [0, 1]: the great-circle distance, a true metric on the unit sphere.

    Computed as ``2·atan2(‖x̂ − ŷ‖, ‖x̂ + ŷ‖) / π`` (x̂, ŷ normalised), the same angle without
    arccos, whose derivative is infinite at cos = ±1: this form needs no clamping of the
    cosine to [−1+ε, 1−ε], is exact at 0 and at 1, and has a finite gradient everywhere
    (the norms use :func:`_safe_sqrt`). The matrix form gets ``‖x̂ ∓ ŷ‖² = 2 ∓ 2cos`` from the Gram matrix.
    """

    name = "angular"
    is_metric = True

    def max_value(self, normalized: bool) -> float:
        return 1.0

    def __call__(self, x: Tensor, y: Tensor) -> Tensor:
        x_hat, y_hat = F.normalize(x, dim=-1), F.normalize(y, dim=-1)
        chord = _safe_sqrt(((x_hat - y_hat) ** 2).sum(dim=-1))
        cochord = _safe_sqrt(((x_hat + y_hat) ** 2).sum(dim=-1))
        return 2.0 * torch.atan2(chord, cochord) / math.pi

    def matrix(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        x_hat = F.normalize(x, dim=-1)
        other = x_hat if y is None else F.normalize(y, dim=-1)
        cos = (x_hat @ other.T).clamp(-1.0, 1.0)
        distances = 2.0 * torch.atan2(_safe_sqrt(2.0 - 2.0 * cos), _safe_sqrt(2.0 + 2.0 * cos)) / math.pi
        return _self_distance_zero(distances) if y is None else distances


DISTANCES: dict[str, Distance] = {d.name: d for d in (Euclidean(), CosineDistance(), Angular())}


def get_distance(distance: str | Distance) -> Distance:
    """The :class:`Distance` named ``distance`` (or ``distance`` itself); :class:`InputError` if unknown."""
    if isinstance(distance, Distance):
        return distance
    key = str(distance).strip().lower()
    if key not in DISTANCES:
        raise InputError(f"unknown distance '{distance}'; choose one of: {', '.join(DISTANCES)}")
    return DISTANCES[key]


def outputs_normalized(model: Any) -> bool:
    """Whether ``model`` ends its embeddings with a ``Normalize`` module (so Euclidean distances are ≤ 2)."""
    from sentence_transformers.sentence_transformer.modules import Normalize

    return isinstance(model, nn.Module) and any(isinstance(m, Normalize) for m in model.modules())


# --------------------------------------------------------------------------- miners

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


# --------------------------------------------------------------------------- margin losses

def _check_reduction(reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise InputError(f"unknown reduction '{reduction}'; choose one of: {', '.join(REDUCTIONS)}")
    return reduction


def _check_margin(margin: float, distance: Distance, normalized: bool, what: str) -> float:
    """Reject a margin ≤ 0 or one larger than the distance can ever be (the hinge could never reach 0)."""
    try:
        margin = float(margin)
    except (TypeError, ValueError):
        raise InputError(f"margin must be a number, got {margin!r}") from None
    if not margin > 0 or not math.isfinite(margin):
        raise InputError(f"margin must be a finite number > 0, got {margin:g}")
    largest = distance.max_value(normalized)
    if margin > largest:
        note = " on normalised embeddings" if distance.name == "euclidean" else ""
        raise InputError(f"margin {margin:g} exceeds the largest {distance.name} distance ({largest:g}){note}: "
                         f"the loss could never reach 0{what}")
    return margin


def _embed(model: nn.Module, sentence_features: Iterable[dict[str, Tensor]], columns: int | None,
           loss: str) -> list[Tensor]:
    """One ``sentence_embedding`` tensor per text column, after checking the column count."""
    features = list(sentence_features)
    if columns is not None and len(features) != columns:
        raise InputError(f"loss '{loss}' needs {columns} text column(s), got {len(features)}: "
                         f"expected {', '.join(c for c in LOSS_COLUMNS[loss] if c not in LABEL_COLUMNS)}")
    return [model(f)["sentence_embedding"] for f in features]


class _MarginLoss(nn.Module):
    """Shared plumbing: model, distance, validated margin and reduction, config for the model card."""

    loss_name: ClassVar[str]
    columns: ClassVar[int]
    #: Default margins per distance, on unit-normalised embeddings (see the subclasses for why).
    default_margins: ClassVar[dict[str, float]]
    margin_note: ClassVar[str] = ""

    def __init__(self, model: nn.Module, distance: str | Distance = "euclidean", margin: float | None = None,
                 reduction: str = "mean") -> None:
        super().__init__()
        self.model = model
        self.distance = get_distance(distance)
        if margin is None:
            if self.distance.name not in self.default_margins:
                raise InputError(f"distance '{self.distance.name}' has no default margin: pass margin=")
            margin = self.default_margins[self.distance.name]
        self.margin = _check_margin(margin, self.distance, outputs_normalized(model), self.margin_note)
        self.reduction = _check_reduction(reduction)

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        return self.compute_loss_from_embeddings(_embed(self.model, sentence_features, self.columns,
                                                        self.loss_name), labels)

    def compute_loss_from_embeddings(self, embeddings: Sequence[Tensor], labels: Tensor | None = None) -> Tensor:
        raise NotImplementedError

    def _reduce(self, per_item: Tensor) -> Tensor:
        """Sum over the batch; "mean" divides by the batch size, so the learning rate need not follow it."""
        total = per_item.sum()
        return total / per_item.numel() if self.reduction == "mean" and per_item.numel() else total

    def get_config_dict(self) -> dict[str, Any]:
        return {"distance": self.distance.name, "margin": self.margin, "reduction": self.reduction}


class ContrastiveLoss(_MarginLoss):
    """The seed's contrastive loss: ``L = Σ_i y_i·d(x_i, x_i')² + (1 − y_i)·max(0, m − d(x_i, x_i'))²``.

    Inputs: two text columns and a label y ∈ {0, 1} (1 = similar). Similar pairs are pulled
    together; dissimilar ones pushed at least ``m`` apart. ``reduction="mean"`` (default)
    divides the sum by the number of pairs, ``"sum"`` is the formula as written.
    """

    loss_name = "contrastive"
    columns = 2
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


class TripletLoss(_MarginLoss):
    """The seed's triplet loss: ``L = Σ_i max(0, d(a_i, p_i) − d(a_i, n_i) + m)``.

    Inputs: three text columns (anchor, positive, negative), no label. ``reduction="mean"``
    (default) divides the sum by the number of triplets, ``"sum"`` is the formula as written.
    """

    loss_name = "triplet"
    columns = 3
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
        return _FACENET


class _MinedTripletLoss(_MarginLoss):
    """The triplet hinge over triplets a miner picks from one labelled text column."""

    columns = 1
    default_margins = TripletLoss.default_margins
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


class BatchHardTripletLoss(_MinedTripletLoss):
    """Triplet loss over batch-hard triplets: per anchor, the farthest positive and the closest negative.

    Inputs: one text column and integer class labels (see :func:`mine_batch_hard`). Needs
    batches holding at least two texts of a class: train with ``BatchSamplers.GROUP_BY_LABEL``.
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


class BatchSemiHardTripletLoss(_MinedTripletLoss):
    """Triplet loss over every same-label pair with its semi-hard negative (rule: :func:`mine_batch_semi_hard`).

    Inputs: one text column and integer class labels; train with ``BatchSamplers.GROUP_BY_LABEL``.
    When every anchor has a negative in the batch, the value equals sentence-transformers'
    BatchSemiHardTripletLoss with the same distance and margin.
    """

    loss_name = "batch-semi-hard"
    miner = staticmethod(mine_batch_semi_hard)

    @property
    def citation(self) -> str:
        return _FACENET


_FACENET = """
@inproceedings{schroff2015facenet,
    title={FaceNet: A Unified Embedding for Face Recognition and Clustering},
    author={Schroff, Florian and Kalenichenko, Dmitry and Philbin, James},
    booktitle={Proceedings of the IEEE Conference on Computer Vision and Pattern Recognition (CVPR)},
    year={2015},
}
"""


# --------------------------------------------------------------------------- in-batch negatives

class MultipleNegativesRankingLoss(_st_losses.MultipleNegativesRankingLoss):
    """In-batch negatives (InfoNCE): sentence-transformers' loss, plus a ``reduction`` option.

    Inputs: (query, positive) or (query, positive, negative_1, …, negative_n), no label. For
    each query, cross-entropy of ``scale · cos`` against all positives and negatives in the
    batch. Every other row's positive counts as a negative, so train with
    ``BatchSamplers.NO_DUPLICATES`` (:data:`NO_DUPLICATES`) lest a duplicate become a false
    negative. ``reduction="mean"`` (default, sentence-transformers' own) averages over
    queries; ``"sum"`` multiplies that by the batch size.
    """

    loss_name = "mnrl"

    def __init__(self, model: nn.Module, scale: float = 20.0,
                 similarity_fct: Callable[[Tensor, Tensor], Tensor] = cos_sim, reduction: str = "mean",
                 **kwargs: Any) -> None:
        super().__init__(model, scale=scale, similarity_fct=similarity_fct, **kwargs)
        self.reduction = _check_reduction(reduction)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None = None) -> Tensor:
        loss = super().compute_loss_from_embeddings(embeddings, labels)
        return loss * embeddings[0].size(0) if self.reduction == "sum" else loss

    def get_config_dict(self) -> dict[str, Any]:
        return {**super().get_config_dict(), "reduction": self.reduction}


# --------------------------------------------------------------------------- registry

LOSSES: dict[str, type[nn.Module]] = {
    "contrastive": ContrastiveLoss,
    "triplet": TripletLoss,
    "batch-hard": BatchHardTripletLoss,
    "batch-semi-hard": BatchSemiHardTripletLoss,
    "mnrl": MultipleNegativesRankingLoss,
}

#: The dataset columns each loss reads, in the order the trainer must see them (it passes text
#: columns by position; the label column may sit anywhere). "mnrl" also accepts any number of
#: extra hard-negative columns after these (negative_1, …, negative_n).
LOSS_COLUMNS: dict[str, tuple[str, ...]] = {
    "contrastive": ("text_a", "text_b", "label"),
    "triplet": ("anchor", "positive", "negative"),
    "batch-hard": ("text", "label"),
    "batch-semi-hard": ("text", "label"),
    "mnrl": ("query", "positive"),
}

NO_DUPLICATES = BatchSamplers.NO_DUPLICATES

#: The batch sampler to put in ``SentenceTransformerTrainingArguments(batch_sampler=...)`` per loss:
#: no duplicates for in-batch negatives (a duplicate positive would be a false negative),
#: label groups for the miners (every batch holds ≥ 2 classes with ≥ 2 texts each; needs an
#: even batch size ≥ 4).
BATCH_SAMPLERS: dict[str, BatchSamplers] = {
    "contrastive": BatchSamplers.BATCH_SAMPLER,
    "triplet": BatchSamplers.BATCH_SAMPLER,
    "batch-hard": BatchSamplers.GROUP_BY_LABEL,
    "batch-semi-hard": BatchSamplers.GROUP_BY_LABEL,
    "mnrl": BatchSamplers.NO_DUPLICATES,
}


def _loss_key(name: str) -> str:
    key = str(name).strip().lower()
    if key not in LOSSES:
        raise InputError(f"unknown loss '{name}'; choose one of: {', '.join(LOSSES)}")
    return key


def batch_sampler_for(name: str) -> BatchSamplers:
    """The batch sampler loss ``name`` needs (see :data:`BATCH_SAMPLERS`)."""
    return BATCH_SAMPLERS[_loss_key(name)]


def check_columns(name: str, columns: Sequence[str]) -> None:
    """Raise :class:`InputError` unless dataset ``columns`` fit loss ``name`` (names and text-column order)."""
    key = _loss_key(name)
    needed = LOSS_COLUMNS[key]
    text_needed = [c for c in needed if c not in LABEL_COLUMNS]
    text_have = [c for c in columns if c not in LABEL_COLUMNS]
    label_ok = any(c in LABEL_COLUMNS for c in columns) == any(c in LABEL_COLUMNS for c in needed)
    extra_ok = key == "mnrl" or len(text_have) == len(text_needed)
    if text_have[:len(text_needed)] != text_needed or not extra_ok or not label_ok:
        extra = " (then optional negative columns)" if key == "mnrl" else ""
        raise InputError(f"loss '{key}' needs columns {', '.join(needed)}{extra} in that order; "
                         f"the data has {', '.join(columns) or 'none'}")


def make_loss(name: str, model: nn.Module, *, distance: str | Distance | None = None, margin: float | None = None,
              reduction: str = "mean", gather_across_devices: bool = False) -> nn.Module:
    """Build loss ``name`` from :data:`LOSSES` for ``model``; bad names or values raise :class:`InputError`.

    ``gather_across_devices`` (mnrl only; the batch-local losses ignore it): in data-parallel
    training, every process's queries see the positives and negatives of all processes.
    """
    key = _loss_key(name)
    if key == "mnrl":
        if distance is not None or margin is not None:
            raise InputError("loss 'mnrl' uses scaled cosine similarity and takes no distance or margin")
        return MultipleNegativesRankingLoss(model, reduction=reduction, gather_across_devices=gather_across_devices)
    return LOSSES[key](model, distance="euclidean" if distance is None else distance, margin=margin,
                       reduction=reduction)
