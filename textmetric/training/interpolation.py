"""WiSE-FT: the fine-tuned weights interpolated with the starting model's, ``θ = (1 − λ)·θ_start + λ·θ_ft``.

Wortsman et al., "Robust fine-tuning of zero-shot models" (CVPR 2022): fine-tuning gains on the
training distribution but can lose on data unlike it (for retrieval: documents never trained on);
a point on the straight line between the two weight vectors often keeps most of the gain and
the starting model's robustness. ``λ`` is fixed, or chosen on the dev split from a grid.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable

from ..errors import InputError, Range, option

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["INTERPOLATION_GRID", "INTERPOLATION_RANGE", "AUTO", "parse_interpolation", "check_interpolation",
           "snapshot", "interpolate", "choose_interpolation"]

AUTO = "auto"
# λ candidates for "auto": below 0.3 the model is mostly the starting one and rarely wins on dev.
INTERPOLATION_GRID = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
INTERPOLATION_RANGE = Range(0, 1)


def check_interpolation(value: float | str | None) -> float | str | None:
    """``value`` if it is None, ``"auto"`` or a number in [0, 1]; else a one-line :class:`InputError`."""
    if value is None or value == AUTO:
        return value
    if isinstance(value, str):
        raise InputError(f"{option('interpolation', '--interpolate')} takes auto, none or a number in [0, 1], "
                         f"got {value!r}")
    return INTERPOLATION_RANGE.check("interpolation", value, "--interpolate")


def parse_interpolation(text: str) -> float | str | None:
    """``--interpolate``'s value: ``"auto"``, ``"none"`` (None) or a number in [0, 1]."""
    text = text.strip().lower()
    if text in ("none", AUTO):
        return None if text == "none" else AUTO
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"--interpolate takes auto, none or a number in [0, 1], got {text!r}") from None
    return check_interpolation(value)


def snapshot(model: "nn.Module") -> dict[str, "torch.Tensor"]:
    """A copy of ``model``'s weights (its state dict, detached, on the CPU) that later training leaves alone."""
    return {name: tensor.detach().to("cpu", copy=True) for name, tensor in model.state_dict().items()}


def interpolate(model: "nn.Module", start: dict[str, "torch.Tensor"], tuned: dict[str, "torch.Tensor"],
                weight: float) -> None:
    """Load ``(1 − weight)·start + weight·tuned`` into ``model``, tensor by tensor.

    Tensors that are not floating point (position ids, counters) are taken from ``tuned``.
    """
    import torch

    check_interpolation(weight)
    if start.keys() != tuned.keys():
        raise ValueError("the starting and fine-tuned weights have different tensors")
    mixed = {}
    with torch.no_grad():
        for name, value in tuned.items():
            if torch.is_floating_point(value):
                mixed[name] = torch.lerp(start[name].to(value.device, value.dtype), value, weight)
            else:
                mixed[name] = value
    model.load_state_dict(mixed)


def choose_interpolation(score: Callable[[float], float], grid: Iterable[float] = INTERPOLATION_GRID
                         ) -> tuple[float, dict[float, float]]:
    """The ``λ`` of ``grid`` with the highest ``score(λ)`` (dev nDCG@10), and every grid point's score.

    Ties go to the smaller ``λ``: of equally good models, the one nearer the starting model.
    """
    scores = {float(weight): float(score(weight)) for weight in sorted(set(grid))}
    if not scores:
        raise ValueError("an empty grid")
    best = max(scores.values())
    return next(weight for weight, value in scores.items() if value == best), scores
