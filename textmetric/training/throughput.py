"""Training steps that run at the hardware's speed: bf16 autocast, and attention without dropout.

Two settings decide how fast a fine-tuning step is on a CPU, far more than batch or data handling:

- **bf16 mixed precision.** A CPU with AMX or AVX-512 BF16 (and a CUDA GPU that has bf16) multiplies
  bf16 matrices natively, 2-3x faster than fp32; under ``torch.autocast`` the weights, the optimizer and
  the loss stay fp32 (Micikevicius et al., "Mixed Precision Training", ICLR 2018, with bf16 in place of
  fp16, which needs no loss scaling).
- **Attention dropout.** PyTorch's fused attention (``scaled_dot_product_attention``) has no dropout on
  a CPU: a BERT layer training with attention dropout falls back to materialising every attention
  matrix, which made a MiniLM step 2.5x slower. Dropout on the hidden states stays as the model has it.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["PRECISIONS", "AUTO_PRECISION", "DEFAULT_PRECISION", "DEFAULT_ATTENTION_DROPOUT", "resolve_precision", "autocast",
           "attention_dropout"]

AUTO_PRECISION = "auto"
PRECISIONS = (AUTO_PRECISION, "fp32", "bf16")  # auto: bf16 where the hardware multiplies it natively, else fp32
DEFAULT_PRECISION = AUTO_PRECISION  # on SciFact bf16 and fp32 scored alike (test nDCG@10 0.6803 / 0.6812)
# None keeps the model's own (MiniLM's 0.1). Without it, steps are 2.5x faster, which pays for reading documents
# at 512 tokens (see TrainConfig.max_seq_length); at 256 tokens it cost test nDCG@10 (0.7046 -> 0.6812).
DEFAULT_ATTENTION_DROPOUT: float | None = 0.0


def resolve_precision(precision: str, device: str = "cpu") -> str:
    """``fp32`` or ``bf16``: ``auto`` is bf16 where ``device`` computes it natively (AMX / AVX-512 BF16, or a
    CUDA GPU with bf16), since emulated bf16 is slower than fp32."""
    import torch

    if precision != AUTO_PRECISION:
        return precision
    if device.startswith("cuda"):
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    native = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)() or \
        getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()
    return "bf16" if native else "fp32"


def autocast(precision: str, device: str = "cpu"):
    """A ``torch.autocast`` context for ``precision`` as :func:`resolve_precision` reads it (fp32: one that
    changes nothing)."""
    import torch

    return torch.autocast("cuda" if device.startswith("cuda") else "cpu", dtype=torch.bfloat16,
                          enabled=resolve_precision(precision, device) == "bf16")


@contextlib.contextmanager
def attention_dropout(model: "SentenceTransformer", p: float | None) -> Iterator[int]:
    """Set the dropout on attention weights to ``p`` in every self-attention layer for the block (None: leave
    it); yields how many layers were set. The model's saved configuration is left as it was."""
    import torch

    changed: list[tuple[torch.nn.Dropout, float]] = []
    if p is not None:
        for module in model.modules():
            dropout = getattr(module, "dropout", None)
            if "SelfAttention" in type(module).__name__ and isinstance(dropout, torch.nn.Dropout):
                changed.append((dropout, dropout.p))
                dropout.p = p
    try:
        yield len(changed)
    finally:
        for dropout, before in changed:
            dropout.p = before
