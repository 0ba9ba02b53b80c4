"""Distances between embeddings, a parameter of every margin loss (as in pytorch-metric-learning's ``distances``).

Each :class:`Distance` says whether it is a true metric (``is_metric``: the triangle
inequality holds) and how large it can get (:meth:`Distance.max_value`), so that a loss
can reject a margin it could never satisfy. Euclidean is the default: a true metric.

torch is imported inside the methods, on first use, so that the names here (which the
CLI offers as ``--distance`` choices) are readable without loading it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import InputError

if TYPE_CHECKING:
    from torch import Tensor

__all__ = ["Distance", "Euclidean", "CosineDistance", "Angular", "DISTANCES", "DEFAULT_DISTANCE", "get_distance",
           "outputs_normalized"]


def _safe_sqrt(squared: Tensor) -> Tensor:
    """``sqrt(max(squared, 0))``, exactly 0 with a zero (finite) gradient where ``squared`` is 0.

    Chosen over ``sqrt(s + eps)`` (which makes d(x, x) = sqrt(eps) ≠ 0) and over a clamp at eps
    (which zeroes the gradient of every distance below sqrt(eps)): values are exact and only the
    point s = 0 itself, where the Euclidean norm has no derivative, gets the subgradient 0.
    """
    import torch

    squared = squared.clamp_min(0)
    positive = squared > 0
    inner = torch.where(positive, squared, torch.ones_like(squared))
    return torch.where(positive, inner.sqrt(), torch.zeros_like(squared))


def _self_distance_zero(matrix: Tensor) -> Tensor:
    """Set the diagonal of a square self-distance matrix to exactly 0 (rounding can leave ~1e-4)."""
    import torch

    eye = torch.eye(matrix.size(0), dtype=torch.bool, device=matrix.device)
    return matrix.masked_fill(eye, 0.0)


def _normalize(x: Tensor) -> Tensor:
    """``x / ‖x‖`` row by row (torch's ``F.normalize``)."""
    import torch.nn.functional as F

    return F.normalize(x, dim=-1)


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
        return ((_normalize(x) - _normalize(y)) ** 2).sum(dim=-1) / 2.0

    def matrix(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        x_hat = _normalize(x)
        other = x_hat if y is None else _normalize(y)
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
        import torch

        x_hat, y_hat = _normalize(x), _normalize(y)
        chord = _safe_sqrt(((x_hat - y_hat) ** 2).sum(dim=-1))
        cochord = _safe_sqrt(((x_hat + y_hat) ** 2).sum(dim=-1))
        return 2.0 * torch.atan2(chord, cochord) / math.pi

    def matrix(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        import torch

        x_hat = _normalize(x)
        other = x_hat if y is None else _normalize(y)
        cos = (x_hat @ other.T).clamp(-1.0, 1.0)
        distances = 2.0 * torch.atan2(_safe_sqrt(2.0 - 2.0 * cos), _safe_sqrt(2.0 + 2.0 * cos)) / math.pi
        return _self_distance_zero(distances) if y is None else distances


DISTANCES: dict[str, Distance] = {d.name: d for d in (Euclidean(), CosineDistance(), Angular())}
#: The distance of a margin loss when none is named: a true metric.
DEFAULT_DISTANCE = Euclidean.name


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
    from torch import nn

    return isinstance(model, nn.Module) and any(isinstance(m, Normalize) for m in model.modules())
