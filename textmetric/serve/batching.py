"""Micro-batching: queries that arrive within a few milliseconds of each other are encoded in one call.

A transformer encodes 16 short queries on a CPU in little more time than one, so a service
that encodes each request on its own spends most of its time on per-call overhead. One
thread owns query encoding: it takes the first waiting request, keeps collecting requests
until the batch holds ``max_batch`` texts or the first one has waited ``max_wait`` seconds,
encodes them all in one call and hands each request its rows. Under load, the requests that
arrived while a batch was encoding have waited already and form the next batch at once.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..encoding import Encoder

__all__ = ["QueryBatcher", "Encoded", "DEFAULT_MAX_BATCH", "DEFAULT_MAX_WAIT"]

DEFAULT_MAX_BATCH = 64    # texts per encode: past this, a bigger batch no longer costs less per query
DEFAULT_MAX_WAIT = 0.002  # seconds the first query of a batch may wait for company


@dataclass(frozen=True)
class Encoded:
    """One request's query embeddings and, when the model has a tokenizer, each text's token count before
    truncation (prompt and special tokens included)."""

    embeddings: np.ndarray
    lengths: list[int] | None


@dataclass
class _Request:
    texts: list[str]
    arrived: float
    future: Future


_STOP = object()


class QueryBatcher:
    """Encodes the queries of concurrent requests together, on one thread, with ``encoder``'s query prompt.

    :meth:`encode` blocks its caller until its texts are encoded; no text waits more than
    ``max_wait`` seconds for a batch to fill. ``batch_size`` is the encoder's own batch size,
    as for ``Retriever``, so a request encoded alone gets the vectors a ``Retriever`` computes.
    """

    def __init__(self, encoder: Encoder, *, max_batch: int = DEFAULT_MAX_BATCH, max_wait: float = DEFAULT_MAX_WAIT,
                 batch_size: int = 32) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        if max_wait < 0:
            raise ValueError(f"max_wait must be at least 0, got {max_wait}")
        self.encoder = encoder
        self.max_batch, self.max_wait, self.batch_size = max_batch, max_wait, batch_size
        self.batches = 0  # encode calls made, and the texts they held: their ratio is the mean batch
        self.texts = 0
        self._queue: queue.Queue = queue.Queue()
        self._closed = False
        self._closing = threading.Lock()  # no request enters the queue behind the stop mark
        self._thread = threading.Thread(target=self._run, name="textmetric-query-batcher", daemon=True)
        self._thread.start()

    def encode(self, texts: Sequence[str]) -> Encoded:
        """The embeddings of ``texts`` (and their token counts), encoded with whatever else arrives meanwhile."""
        future: Future = Future()
        with self._closing:
            if self._closed:
                raise RuntimeError("the service is stopping")
            self._queue.put(_Request(list(texts), time.monotonic(), future))
        return future.result()

    def close(self, timeout: float = 10.0) -> None:
        """Encode what is waiting, then stop the thread."""
        with self._closing:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join(timeout)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                return
            batch, size = [first], len(first.texts)
            deadline = first.arrived + self.max_wait
            while size < self.max_batch:
                wait = deadline - time.monotonic()
                try:
                    item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
                size += len(item.texts)
            self._encode(batch)

    def _encode(self, batch: list[_Request]) -> None:
        texts = [text for request in batch for text in request.texts]
        try:
            lengths = self.encoder.token_lengths(texts, role="query")
            embeddings = self.encoder.encode_queries(texts, batch_size=self.batch_size, lengths=lengths)
        except BaseException as error:  # every waiting request hears of it; the thread goes on
            for request in batch:
                request.future.set_exception(error)
            return
        self.batches += 1
        self.texts += len(texts)
        start = 0
        for request in batch:
            end = start + len(request.texts)
            request.future.set_result(Encoded(embeddings[start:end], None if lengths is None else lengths[start:end]))
            start = end
