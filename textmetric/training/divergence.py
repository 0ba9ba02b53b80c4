"""A run whose loss or weights stop being finite has diverged: it stops at once, and no model is written.

A NaN or an infinity in a loss spreads to every weight at the next optimiser step, and a model
of NaN weights scores every document NaN. So every training step's loss is checked, and the
weights once more before a model is saved.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..errors import InputError, option

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["TrainingDiverged", "check_loss", "check_weights"]


class TrainingDiverged(InputError):
    """Training produced a loss or weights that are NaN or infinite; nothing was saved."""


def _advice(lr: float) -> str:
    return f"no model was written (a {option('lr')} below {lr:g} may help)"


def check_loss(loss: "torch.Tensor | float", step: int, lr: float) -> None:
    """Raise :class:`TrainingDiverged` when the loss of training step ``step`` (from 1) is NaN or infinite."""
    value = float(loss.detach()) if hasattr(loss, "detach") else float(loss)
    if not math.isfinite(value):
        raise TrainingDiverged(f"training diverged at step {step}: the loss is {value:g}, so {_advice(lr)}")


def check_weights(model: "nn.Module", lr: float) -> None:
    """Raise :class:`TrainingDiverged` when any weight of ``model`` is NaN or infinite."""
    import torch

    for name, weights in model.named_parameters():
        if not bool(torch.isfinite(weights).all()):
            raise TrainingDiverged(f"training diverged: the weights {name} are no longer finite, so {_advice(lr)}")
