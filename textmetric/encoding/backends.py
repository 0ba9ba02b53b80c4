"""Inference backends: sentence-transformers on torch, or the same model exported to ONNX.

``onnx`` runs the whole sentence-transformers pipeline (transformer, pooling,
normalisation, any dense or adapter layer) as one ONNX graph in onnxruntime;
``onnx-int8`` is that graph with its weight matrices dynamically quantised to int8
(per channel; 7-bit on CPUs without VNNI, where full-range int8 products can
saturate). Batches are sorted by token count, so they carry almost no padding. The
export is made locally with ``torch.onnx`` — sentence-transformers' own ONNX path
needs optimum-onnx, whose
releases pin a transformers older than 5 — and cached beside the model folder in
``onnx/`` (or, when that is not writable, under ``~/.cache/textmetric/onnx/``),
keyed by the weights' SHA-256 so a retrained folder never reuses a stale export.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import warnings
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, ContextManager, Iterator, Sequence

import numpy as np

from ..errors import InputError
from .fingerprint import weights_fingerprint

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["BACKENDS", "OnnxBackend", "export_onnx", "onnx_files", "cpu_count"]

BACKENDS = ("torch", "onnx", "onnx-int8")
OPSET = 17
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def cpu_count() -> int:
    """Cores this process may use: ``OMP_NUM_THREADS`` when it is set (torch reads it too, and Ray sets it to a
    task's or actor's CPUs, so that two encoders sharing a machine do not each run a thread per core), else
    the affinity mask (not the machine's total)."""
    given = os.environ.get("OMP_NUM_THREADS", "")
    if given.isdigit() and int(given) > 0:
        return int(given)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _cache_folder(source: str | os.PathLike | None, fingerprint: str) -> Path:
    """``<model folder>/onnx`` when writable, else a per-user cache keyed by the weights."""
    if source is not None and Path(source).is_dir():
        folder = Path(source) / "onnx"
        try:
            folder.mkdir(exist_ok=True)
            probe = folder / f".probe-{os.getpid()}"
            probe.touch()
            probe.unlink()
            return folder
        except OSError:
            pass
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder = base / "textmetric" / "onnx" / fingerprint[:16]
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def has_vnni() -> bool:
    """Whether the CPU multiplies int8 with VNNI; without it, full-range int8 products can saturate."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_vnni" in flags or "avx_vnni" in flags


def onnx_files(source: str | os.PathLike | None, fingerprint: str) -> tuple[Path, Path]:
    """Where the fp32 and int8 exports of the model with these weights live (they may not exist yet)."""
    folder = _cache_folder(source, fingerprint)
    stem = f"textmetric-{fingerprint[:16]}"
    return folder / f"{stem}.onnx", folder / f"{stem}-int8{'' if has_vnni() else '-r7'}.onnx"


def _input_names(model: "SentenceTransformer") -> list[str]:
    features = model.preprocess(["a"])
    return [name for name in _INPUTS if name in features]


def export_onnx(model: "SentenceTransformer", path: str | os.PathLike) -> Path:
    """Trace ``model`` (every module, on CPU) into an ONNX graph: token tensors in, sentence embedding out.

    Traced with eager attention, whose pattern onnxruntime's transformer optimizer fuses
    (Attention, SkipLayerNormalization, BiasGelu: the same arithmetic, fewer passes over memory).
    """
    import copy

    import torch

    class Pipeline(torch.nn.Module):
        """The sentence-transformers model as a function of token tensors, for tracing."""

        def __init__(self, inner: "SentenceTransformer") -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *tensors):
            return self.inner(dict(zip(names, tensors)))["sentence_embedding"]

    path = Path(path)
    names = _input_names(model)
    cpu = copy.deepcopy(model).to("cpu").eval()
    encoder = getattr(cpu[0], "auto_model", None)
    if hasattr(encoder, "set_attn_implementation"):
        encoder.set_attn_implementation("eager")
    sample = cpu.preprocess(["an example sentence to trace", "and a second, longer one to pad the first"])
    args = tuple(sample[n] for n in names)
    axes = {n: {0: "batch", 1: "tokens"} for n in names} | {"sentence_embedding": {0: "batch"}}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer and deprecation chatter about shape-dependent branches
            torch.onnx.export(Pipeline(cpu), args, str(tmp), input_names=names,
                              output_names=["sentence_embedding"], dynamic_axes=axes, opset_version=OPSET,
                              dynamo=False)
        _optimize(tmp, getattr(encoder, "config", None))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


@contextlib.contextmanager
def _errors_only(logger: logging.Logger) -> Iterator[None]:
    """Only the errors of ``logger`` for the block; a handler it gains meanwhile is removed afterwards
    (``logging.warning`` gives a root logger without handlers one of its own)."""
    level, handlers = logger.level, list(logger.handlers)
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
        for handler in [h for h in logger.handlers if h not in handlers]:
            logger.removeHandler(handler)


def _optimize(path: Path, config) -> None:
    """Fuse a BERT-like graph in place with onnxruntime's transformer optimizer; other graphs stay as traced."""
    model_type = getattr(config, "model_type", "")
    if model_type not in ("bert", "roberta", "xlm-roberta", "distilbert", "mpnet", "electra"):
        return
    from onnxruntime.transformers.optimizer import optimize_model

    try:
        with _errors_only(logging.getLogger("onnxruntime.transformers")):  # it logs every fusion it makes
            optimized = optimize_model(str(path), model_type="bert" if model_type != "distilbert" else model_type,
                                       num_heads=getattr(config, "num_attention_heads", 0),
                                       hidden_size=getattr(config, "hidden_size", 0))
            optimized.save_model_to_file(str(path))
    except Exception:  # noqa: BLE001 - an unfusable graph is still a correct graph
        pass


def quantize_int8(source: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Dynamic int8 quantisation of ``source``'s weight matrices (per channel; 7-bit without VNNI)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        # The quantizer gives its "consider pre-processing" advice through logging.warning(), the root logger
        # itself: no logger of its own to quiet, so the root's level is raised for this call alone.
        with _errors_only(logging.getLogger()):
            quantize_dynamic(str(source), str(tmp), weight_type=QuantType.QInt8, per_channel=True,
                             reduce_range=not has_vnni(), op_types_to_quantize=["MatMul", "Attention"],
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


class OnnxBackend:
    """Encodes like ``SentenceTransformer.encode`` (same tokenisation, length-sorted batches) in onnxruntime."""

    def __init__(self, model: "SentenceTransformer", backend: str, source: str | os.PathLike | None = None,
                 fingerprint: str | None = None) -> None:
        if backend not in ("onnx", "onnx-int8"):
            raise InputError(f"unknown ONNX backend '{backend}'")
        self.backend = backend
        self.model = model
        fingerprint = fingerprint or weights_fingerprint(model)
        fp32, int8 = onnx_files(source, fingerprint)
        started = time.perf_counter()
        if not fp32.exists():
            export_onnx(model, fp32)
        if backend == "onnx-int8" and not int8.exists():
            quantize_int8(fp32, int8)
        self.path = int8 if backend == "onnx-int8" else fp32
        self.export_seconds = time.perf_counter() - started
        self.names = _input_names(model)
        self._sessions: dict[int, object] = {}
        self._opening = threading.Lock()  # callers in several threads open one session per thread count
        meta = self.path.with_suffix(".json")
        if not meta.exists():
            meta.write_text(json.dumps({"weights_sha256": fingerprint, "backend": backend, "opset": OPSET}) + "\n")

    def session(self, threads: int):
        """An onnxruntime session using ``threads`` intra-op threads (cached per thread count; several threads may
        run one session at once)."""
        with self._opening:
            if threads not in self._sessions:
                import onnxruntime as ort

                options = ort.SessionOptions()
                options.intra_op_num_threads = threads
                options.inter_op_num_threads = 1
                options.log_severity_level = 3
                # Idle intra-op threads sleep rather than spin: spinning keeps a core busy between runs, taken
                # from whatever the caller does meanwhile (tokenising the next batch, answering requests),
                # which on a machine of few cores costs more than the wake-up it saves.
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                self._sessions[threads] = ort.InferenceSession(str(self.path), options,
                                                               providers=["CPUExecutionProvider"])
            return self._sessions[threads]

    def close(self) -> None:
        """Drop the onnxruntime sessions (made again when next needed)."""
        self._sessions.clear()

    def encode(self, texts: Sequence[str], *, prompt: str | None = None, batch_size: int = 32,
               normalize: bool = False, progress: bool = False, workers: int = 1,
               lengths: Sequence[int] | None = None, tokenizing: ContextManager | None = None) -> np.ndarray:
        """Float32 embeddings of ``texts`` (each after ``prompt``); ``workers`` batches run at once, sharing the cores.

        ``lengths`` (token counts, as :meth:`textmetric.Encoder.token_lengths` measures them)
        order the batches so that each holds texts of nearly one length: little padding.
        ``tokenizing``: held while the tokenizer runs, so that callers in other threads may
        encode at the same time (the sessions themselves run concurrently).
        """
        tokenizing = tokenizing if tokenizing is not None else contextlib.nullcontext()
        from tqdm.auto import tqdm

        texts = list(texts)
        dim = self.model.get_embedding_dimension()
        out = np.empty((len(texts), dim), dtype=np.float32)
        if lengths is None:
            lengths = [len(t) for t in texts]  # characters, as sentence-transformers sorts
        else:
            lengths = np.minimum(lengths, self.model.max_seq_length)
        order = np.argsort(-np.asarray(lengths), kind="stable")
        batches = [order[i:i + batch_size] for i in range(0, len(texts), batch_size)]
        workers = max(1, min(workers, len(batches)))
        session = self.session(max(1, cpu_count() // workers))

        def feeds(rows: np.ndarray) -> dict[str, np.ndarray]:
            with tokenizing:
                features = self.model.preprocess([texts[i] for i in rows], prompt=prompt)
            return {n: features[n].numpy().astype(np.int64, copy=False) for n in self.names}

        def run(rows: np.ndarray, inputs: dict[str, np.ndarray]) -> None:
            out[rows] = session.run(["sentence_embedding"], inputs)[0]

        bar = tqdm(total=len(batches), desc="Batches", disable=not progress)
        if workers == 1:
            for rows in batches:
                run(rows, feeds(rows))
                bar.update()
        else:
            # Tokenise here, one batch at a time (a fast tokenizer is not safe to share between threads
            # while it pads and truncates); the sessions run in threads, as onnxruntime releases the GIL.
            pending: deque = deque()
            with ThreadPoolExecutor(workers) as pool:
                for rows in batches:
                    pending.append(pool.submit(run, rows, feeds(rows)))
                    while len(pending) > 2 * workers or (pending and pending[0].done()):
                        pending.popleft().result()
                        bar.update()
                while pending:
                    pending.popleft().result()
                    bar.update()
        bar.close()
        if normalize:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            np.divide(out, norms, out=out, where=norms > 0)
        return out
