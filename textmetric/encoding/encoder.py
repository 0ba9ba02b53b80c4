"""The Encoder: a sentence-transformers model and how textmetric runs it.

A model folder says what the model computes; an :class:`Encoder` adds how it runs:
the backend (torch, or the same model exported to ONNX, fp32 or int8: see
:mod:`textmetric.encoding.backends`), the worker processes and their pool, the maximum
sequence length with the warning that counts truncated texts, and the prompts put
before queries and before documents. Models such as e5 or bge expect a query to start
with an instruction ("query: "); sentence-transformers keeps such prompts in the model
folder and applies them in ``encode_query`` / ``encode_document``. An Encoder picks
them the same way, so its query and document vectors are sentence-transformers' own,
on every backend.
"""

from __future__ import annotations

import os
import threading
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from ..errors import InputError, option, warn
from .backends import BACKENDS, OnnxBackend, cpu_count
from .fingerprint import weights_fingerprint
from .loading import DEFAULT_MODEL, load_model, model_source, position_limit, set_max_seq_length

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["Encoder", "encode", "DEFAULT_BATCH_SIZE", "ROLES", "NO_PROMPTS", "recorded_prompts", "describe_prompts", "check_backend"]

ROLES = ("query", "document")
DEFAULT_BATCH_SIZE = 32  # texts per forward pass: sentence-transformers' own default
NO_PROMPTS = {"query": "", "document": ""}
# The prompt names sentence-transformers' encode_query / encode_document look for, first found wins.
_PROMPT_NAMES = {"query": ("query",), "document": ("document", "passage", "corpus")}


class Encoder:
    """A sentence-transformers model on a backend, with its workers, max length and query/document prompts.

    ``prompts`` set a role's prompt text (``{"query": "query: "}``; ``""`` for none) and
    ``prompt_names`` pick one of the model's own prompts by name; a role given neither
    takes the prompt that sentence-transformers' ``encode_query`` / ``encode_document``
    would. With torch ``workers`` > 1, a pool of processes starts on first use and is
    closed when the worker count changes, on :meth:`close` (or leaving a ``with`` block)
    and at exit. Threads may share an Encoder: they take turns at the tokenizer (a fast tokenizer
    shared by threads truncates one caller's texts by another's settings) and, on torch, at the
    whole encode; ONNX sessions run for several threads at once.
    """

    def __init__(self, model: "SentenceTransformer", *, backend: str = "torch", workers: int = 1,
                 max_seq_length: int | None = None, prompts: Mapping[str, str | None] | None = None,
                 prompt_names: Mapping[str, str | None] | None = None, name: str | os.PathLike | None = None,
                 source: str | os.PathLike | None = None) -> None:
        check_backend(backend, workers)
        self.model = model
        self.name = name  # what an index manifest records; None: the default model
        self.backend = backend
        self._prompts = _resolve_prompts(model, prompts, prompt_names)
        self._workers = workers
        self._pool: dict | None = None
        self._stop_pool: weakref.finalize | None = None
        self._warned: set[tuple[int, int, int]] = set()
        self._turn = threading.RLock()  # one encode (one user of the tokenizer) at a time
        if max_seq_length is not None:
            self.max_seq_length = max_seq_length
        self._onnx: OnnxBackend | None = None
        if backend != "torch":
            if any(self._prompt(role) for role in (*ROLES, None)) and _pools_without_prompt(model):
                raise InputError(f"the {backend} backend cannot leave the prompt out of pooling, as this model "
                                 f"does (include_prompt=False): use --backend torch")
            self._onnx = OnnxBackend(model, backend, source)

    @classmethod
    def load(cls, name_or_path: str | os.PathLike | None = None, *, backend: str = "torch", workers: int = 1,
             max_seq_length: int | None = None, prompts: Mapping[str, str | None] | None = None,
             prompt_names: Mapping[str, str | None] | None = None, device: str | None = None,
             trust_remote_code: bool = False) -> "Encoder":
        """The model of :func:`load_model` (``None``: the offline default) in an Encoder.

        ``onnx``/``onnx-int8`` export the model once and cache the export beside its folder.
        """
        check_backend(backend, workers)  # before the model loads
        source = model_source(name_or_path)
        model = load_model(source, device=device, trust_remote_code=trust_remote_code,
                           max_seq_length=max_seq_length)
        return cls(model, backend=backend, workers=workers, prompts=prompts, prompt_names=prompt_names,
                   name=name_or_path, source=source)

    @classmethod
    def of(cls, model: "Encoder | SentenceTransformer") -> "Encoder":
        """``model`` itself if it is an Encoder, else a torch Encoder of it with the model's own prompts."""
        return model if isinstance(model, Encoder) else cls(model)

    # -- settings --------------------------------------------------------------------------------

    @property
    def dim(self) -> int:
        """The embedding dimension."""
        return int(self.model.get_embedding_dimension())

    @property
    def max_seq_length(self) -> int:
        """Texts are truncated to this many tokens (a warning counts them)."""
        return int(self.model.max_seq_length)

    @max_seq_length.setter
    def max_seq_length(self, tokens: int) -> None:
        set_max_seq_length(self.model, int(tokens))

    @property
    def workers(self) -> int:
        """Torch processes (ONNX: parallel batches) that encode at once."""
        return self._workers

    @workers.setter
    def workers(self, count: int) -> None:
        check_backend(self.backend, count)
        if count != self._workers:
            self._close_pool()
        self._workers = count

    @property
    def prompts(self) -> dict[str, str]:
        """The text put before each query and each document (``""``: none)."""
        return dict(self._prompts)

    @property
    def batch_independent(self) -> bool:
        """Whether a text's vector is the same whatever else is encoded in its batch (up to float rounding).

        Not for ``onnx-int8``: dynamic quantisation scales each batch's activations by the
        batch's own range, so a text's vector moves with its batch-mates (cosine 0.99 apart).
        """
        return self.backend != "onnx-int8"

    @property
    def concurrent(self) -> bool:
        """Whether encodes called from several threads run at the same time (ONNX) or take turns (torch)."""
        return self._onnx is not None

    @property
    def onnx_path(self) -> Path | None:
        """The ONNX graph the onnx backends run (None on torch)."""
        return None if self._onnx is None else self._onnx.path

    def _prompt(self, role: str | None) -> str | None:
        """``role``'s prompt; a text of no role gets what plain ``SentenceTransformer.encode`` would."""
        if role is None:
            return _default_prompt(self.model)
        if role not in ROLES:
            raise ValueError(f"unknown role '{role}' (expected one of {', '.join(ROLES)})")
        return self._prompts[role]

    # -- encoding --------------------------------------------------------------------------------

    def encode(self, texts: Sequence[str], *, role: str | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
               normalize: bool = False, progress: bool = False, lengths: Sequence[int] | None = None) -> np.ndarray:
        """Embeddings of ``texts`` as a float32 array of shape (len(texts), dim).

        ``role`` "query" or "document" puts that role's prompt before each text, as
        ``encode_query`` / ``encode_document`` do; ``None`` encodes as plain
        ``SentenceTransformer.encode``. On torch a thin call of ``SentenceTransformer.encode``
        (which batches by length), so it costs no more than sentence-transformers itself;
        with workers, its multi-process pool. Texts longer than ``max_seq_length`` are
        truncated, with a warning that counts them. A caller encoding in pieces measures
        :meth:`token_lengths` once, warns once, and passes each piece's ``lengths``.
        """
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        texts = list(texts)
        prompt = self._prompt(role)
        if lengths is None:
            lengths = self.token_lengths(texts, role=role)
            self.warn_truncated(texts, lengths)
        if self._onnx is not None:  # only the tokenizer takes turns: the sessions run concurrently
            return self._onnx.encode(texts, prompt=prompt, batch_size=batch_size, normalize=normalize,
                                     progress=progress, workers=self._workers, lengths=lengths, tokenizing=self._turn)
        with self._turn:
            pool = self._pool_for(len(texts), batch_size)
            task = {} if role is None else {"task": role}  # routes a Router model's input, as encode_query does
            embeddings = self.model.encode(texts, prompt=prompt, batch_size=batch_size, show_progress_bar=progress,
                                           convert_to_numpy=True, normalize_embeddings=normalize, pool=pool, **task)
        return np.ascontiguousarray(embeddings, dtype=np.float32)

    def encode_queries(self, texts: Sequence[str], **options: Any) -> np.ndarray:
        """:meth:`encode` with the query prompt: ``SentenceTransformer.encode_query``'s vectors."""
        return self.encode(texts, role="query", **options)

    def encode_documents(self, texts: Sequence[str], **options: Any) -> np.ndarray:
        """:meth:`encode` with the document prompt: ``SentenceTransformer.encode_document``'s vectors."""
        return self.encode(texts, role="document", **options)

    def token_lengths(self, texts: Sequence[str], *, role: str | None = None) -> list[int] | None:
        """Each text's token count before truncation, its prompt and special tokens included; None without a
        tokenizer."""
        tokenizer = getattr(self.model, "tokenizer", None)
        if tokenizer is None:
            return None
        prompt = self._prompt(role) or ""
        with self._turn:
            ids = tokenizer([prompt + t for t in texts], add_special_tokens=True, truncation=False,
                            return_attention_mask=False, return_token_type_ids=False, verbose=False)["input_ids"]
        return [len(row) for row in ids]

    def warn_truncated(self, texts: Sequence[str], lengths: Sequence[int] | None = None, *,
                       role: str | None = None) -> int:
        """Count the texts longer than ``max_seq_length`` tokens and warn once per count; returns it."""
        limit = self.model.max_seq_length
        if lengths is None:
            lengths = self.token_lengths(texts, role=role)
        if lengths is None or not limit:
            return 0
        over = [n for n in lengths if n > limit]
        if over and (len(texts), len(over), limit) not in self._warned:
            self._warned.add((len(texts), len(over), limit))
            longest = position_limit(self.model)
            room = f"; the model reads up to {longest}" if longest and longest > limit else ""
            warn(f"{len(over):,} of {len(texts):,} texts are longer than max_seq_length {limit} tokens and were "
                 f"truncated (longest {max(over):,} tokens; raise {option('max_seq_length')} to keep more{room})")
        return len(over)

    # -- identity --------------------------------------------------------------------------------

    def fingerprint(self) -> str:
        """SHA-256 of the model's weights, computed now (see :func:`weights_fingerprint`)."""
        return weights_fingerprint(self.model)

    def identity(self, name: str | os.PathLike | None = None) -> dict:
        """What an index manifest records of its encoder: name or path (resolved, and as given), weights hash,
        dimension, max length, backend and prompts. ``name`` defaults to the one the encoder was loaded by."""
        name = self.name if name is None else name
        given = DEFAULT_MODEL if name is None else str(name)
        if name is None:
            name = DEFAULT_MODEL
        else:
            name = str(name)
            if Path(name).is_dir():
                name = str(Path(name).resolve())
        return {"name": name, "given_name": given, "weights_sha256": self.fingerprint(), "dim": self.dim,
                "max_seq_length": self.max_seq_length, "backend": self.backend, "prompts": self.prompts}

    # -- the worker pool -------------------------------------------------------------------------

    def _pool_for(self, count: int, batch_size: int) -> dict | None:
        """sentence-transformers' multi-process pool when there are workers and more than a batch, else None."""
        if self._workers == 1 or count <= batch_size:
            return None
        if self._pool is None:
            self._pool = self._start_pool()
            # stops the processes when the pool is replaced or closed, the encoder collected, or at exit
            self._stop_pool = weakref.finalize(self, self.model.stop_multi_process_pool, self._pool)
        return self._pool

    def _start_pool(self) -> dict:
        """One process per GPU when there are enough, else per share of the CPU cores."""
        import torch

        workers = self._workers
        if torch.cuda.is_available() and torch.cuda.device_count() >= workers:
            devices = [f"cuda:{i}" for i in range(workers)]
        else:
            devices = ["cpu"] * workers
        # The workers share the cores. Each is a new process whose torch reads OMP_NUM_THREADS as it starts, and
        # only the environment reaches it there: set for their start alone, then put back.
        saved = os.environ.get("OMP_NUM_THREADS")
        os.environ["OMP_NUM_THREADS"] = str(max(1, cpu_count() // workers))
        try:
            return self.model.start_multi_process_pool(devices)
        finally:
            if saved is None:
                os.environ.pop("OMP_NUM_THREADS", None)
            else:
                os.environ["OMP_NUM_THREADS"] = saved

    def _close_pool(self) -> None:
        if self._stop_pool is not None:
            self._stop_pool()
        self._pool, self._stop_pool = None, None

    def close(self) -> None:
        """Stop the worker processes and drop the ONNX sessions; the encoder still works (they start again)."""
        self._close_pool()
        if self._onnx is not None:
            self._onnx.close()

    def __enter__(self) -> "Encoder":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        name = DEFAULT_MODEL if self.name is None else str(self.name)
        return (f"Encoder({name!r}, backend={self.backend!r}, workers={self._workers}, "
                f"max_seq_length={self.max_seq_length}, prompts={self._prompts!r})")


def encode(model: "Encoder | SentenceTransformer", texts: Sequence[str], **options: Any) -> np.ndarray:
    """:meth:`Encoder.encode` of ``model`` (a plain ``SentenceTransformer`` runs on torch with its own prompts)."""
    return Encoder.of(model).encode(texts, **options)


def check_backend(backend: str, workers: int = 1) -> None:
    """Refuse an unknown backend or fewer than one worker, before anything is loaded."""
    if backend not in BACKENDS:
        raise InputError(f"unknown backend '{backend}'; choose one of: {', '.join(BACKENDS)}")
    if workers < 1:
        raise InputError(f"{option('workers')} must be at least 1, got {workers}")


def recorded_prompts(identity: Mapping | None) -> dict[str, str]:
    """The prompts an index manifest's model identity records.

    An index written before textmetric recorded prompts was encoded without any, for
    queries and documents alike: it reads as ``{"query": "", "document": ""}``.
    """
    return dict((identity or {}).get("prompts") or NO_PROMPTS)


def describe_prompts(prompts: Mapping[str, str]) -> str:
    """``query prompt 'query: ', document prompt none``: prompts in a message, spaces visible."""
    return ", ".join(f"{role} prompt {prompts.get(role)!r}" if prompts.get(role) else f"{role} prompt none"
                     for role in ROLES)


def _resolve_prompts(model: "SentenceTransformer", prompts: Mapping[str, str | None] | None,
                     names: Mapping[str, str | None] | None) -> dict[str, str]:
    """Each role's prompt text: given, named, or the one sentence-transformers' encode_query/encode_document use."""
    given = {role: text for role, text in (prompts or {}).items() if text is not None}
    named = {role: name for role, name in (names or {}).items() if name is not None}
    unknown = sorted((set(given) | set(named)) - set(ROLES))
    if unknown:
        raise InputError(f"prompts are for {' and '.join(ROLES)}, not {', '.join(unknown)}")
    own = dict(getattr(model, "prompts", None) or {})
    resolved = {}
    for role in ROLES:
        if role in given and role in named:
            raise InputError(f"give the {role} prompt or its name, not both")
        if role in given:
            resolved[role] = str(given[role])
            continue
        name = named.get(role) or next((n for n in _PROMPT_NAMES[role] if n in own), None)
        if name is not None and name not in own:
            raise InputError(f"the model has no prompt named '{name}' (its prompts: {', '.join(own) or 'none'})")
        resolved[role] = (own[name] if name is not None else _default_prompt(model)) or ""
    return resolved


def _default_prompt(model: "SentenceTransformer") -> str | None:
    """The prompt plain ``SentenceTransformer.encode`` applies: its ``default_prompt_name``'s, if any."""
    name = getattr(model, "default_prompt_name", None)
    return (getattr(model, "prompts", None) or {}).get(name) if name else None


def _pools_without_prompt(model: "SentenceTransformer") -> bool:
    """Whether a pooling module leaves the prompt's tokens out (``include_prompt=False``, e.g. Instructor)."""
    return any(getattr(module, "include_prompt", True) is False for module in model)
