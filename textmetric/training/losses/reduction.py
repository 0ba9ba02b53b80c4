"""How a loss turns per-item values into one number: ``"mean"`` (the default) or ``"sum"``.

The contrastive and triplet formulas are sums over the batch (``"sum"``, as written);
``"mean"`` divides by the number of items, so the learning rate need not follow the batch size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import InputError

if TYPE_CHECKING:
    from torch import Tensor

__all__ = ["REDUCTIONS", "check_reduction", "reduce"]

REDUCTIONS = ("mean", "sum")


def check_reduction(reduction: str) -> str:
    """``reduction`` itself if it is one of :data:`REDUCTIONS`; :class:`InputError` otherwise."""
    if reduction not in REDUCTIONS:
        raise InputError(f"unknown reduction '{reduction}'; choose one of: {', '.join(REDUCTIONS)}")
    return reduction


def reduce(per_item: Tensor, reduction: str) -> Tensor:
    """The sum of ``per_item``; ``"mean"`` divides it by the number of items (an empty batch sums to 0)."""
    total = per_item.sum()
    return total / per_item.numel() if reduction == "mean" and per_item.numel() else total
