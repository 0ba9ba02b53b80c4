"""The SHA-256 of a model's weights: what says two models embed text identically.

A leaf: the index manifest, the ONNX export cache and the build's resume state all
key on it, and it imports nothing of textmetric.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["weights_fingerprint"]


def weights_fingerprint(model: "torch.nn.Module") -> str:
    """SHA-256 over the model's parameters and buffers (names, shapes, dtypes, values).

    Two models with this fingerprint embed text identically, wherever their
    folders live; an index records it so a different model is caught on search.
    """
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        tensor = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}\n".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()
