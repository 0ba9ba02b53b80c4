"""Micro-batching: queries that arrive within a few milliseconds of each other are encoded together.

Where a model call costs more than its arithmetic (torch: the per-call and per-operator
overhead), 16 short queries encode in little more time than one, so a service that encodes
each request on its own spends most of its time on overhead. One thread gathers the queries:
it takes the first waiting request, keeps collecting requests until the batch holds
``max_batch`` texts or the first one has waited ``max_wait`` seconds, and hands each request
its rows. It waits only while other requests are under way (:meth:`QueryBatcher.visit`),
so a lone query never waits for company that cannot come; under load, the requests that
arrived while a batch was encoding have waited already and form the next batch at once.

How a batch is encoded follows from the encoder (:attr:`Encoder.concurrent`,
:attr:`Encoder.batch_independent`): on torch, in one call; on ONNX, whose sessions run in
several threads at once, in up to ``lanes`` calls side by side, one per core; and on
``onnx-int8``, whose dynamic quantisation makes a text's vector depend on its batch-mates,
one call per request, so a request's vectors never depend on who else is searching (each
gets exactly what ``Retriever.search`` computes for its queries).
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from ..encoding import Encoder
from ..errors import InputError, Range
from ..encoding.backends import cpu_count

__all__ = ["QueryBatcher", "Encoded", "encode_together", "encode_batch", "DEFAULT_MAX_BATCH", "DEFAULT_MAX_WAIT",
           "MAX_WAIT_RANGE", "MAX_WAIT_MS_RANGE"]

DEFAULT_MAX_BATCH = 64    # texts per encode: past this, a bigger batch no longer costs less per query
DEFAULT_MAX_WAIT = 0.002  # seconds the first query of a batch may wait for company
MAX_WAIT_RANGE = Range(0, 1)  # seconds: a bound on waiting is a small one
MAX_WAIT_MS_RANGE = Range(0, 1000)  # the same, in milliseconds, as `textmetric serve --batch-wait-ms` takes it


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
                 batch_size: int = 32, lanes: int | None = None) -> None:
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise InputError(f"max_batch must be an integer of at least 1, got {max_batch!r}")
        MAX_WAIT_RANGE.check("max_wait", max_wait)
        self.encoder = encoder
        self.max_batch, self.max_wait, self.batch_size = max_batch, max_wait, batch_size
        self.lanes = max(1, lanes or cpu_count()) if encoder.concurrent else 1
        self._pool = ThreadPoolExecutor(self.lanes, thread_name_prefix="textmetric-encode") if self.lanes > 1 else None
        self.batches = 0  # encode calls made, and the texts they held: their ratio is the mean batch
        self.texts = 0
        self._queue: queue.Queue = queue.Queue()
        self._active = 0  # requests under way (visit); while some are not in the batch, it may wait for them
        self._counting = threading.Lock()
        self._closed = False
        self._closing = threading.Lock()  # no request enters the queue behind the stop mark
        self._thread = threading.Thread(target=self._run, name="textmetric-query-batcher", daemon=True)
        self._thread.start()

    @contextlib.contextmanager
    def visit(self) -> Iterator[None]:
        """Mark a request as under way for the ``with`` block: while some are, a batch waits (at most
        ``max_wait``) for their queries."""
        with self._counting:
            self._active += 1
        try:
            yield
        finally:
            with self._counting:
                self._active -= 1

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
        if self._pool is not None:
            self._pool.shutdown()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                return
            batch, size = [first], len(first.texts)
            deadline = first.arrived + self.max_wait
            while size < self.max_batch:
                if self._queue.empty() and self._active <= len(batch):
                    break  # nobody else under way: no company to wait for
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
        jobs = self._jobs(batch)
        if len(jobs) == 1 or self._pool is None:
            for job in jobs:
                self._encode_together(job)
        else:
            for done in [self._pool.submit(self._encode_together, job) for job in jobs]:
                done.result()
        self.batches += 1
        self.texts += sum(len(request.texts) for request in batch)

    def _jobs(self, batch: list[_Request]) -> list[list[_Request]]:
        """The encode calls a batch takes: one, one per lane (whole requests, about as many texts each), or
        one per request where batch-mates would change each other's vectors."""
        if not self.encoder.batch_independent:
            return [[request] for request in batch]
        lanes = min(self.lanes, len(batch))
        if lanes == 1:
            return [batch]
        jobs: list[list[_Request]] = [[] for _ in range(lanes)]
        sizes = [0] * lanes
        for request in sorted(batch, key=lambda r: len(r.texts), reverse=True):
            lane = sizes.index(min(sizes))
            jobs[lane].append(request)
            sizes[lane] += len(request.texts)
        return jobs

    def _encode_together(self, requests: list[_Request]) -> None:
        """Encode the texts of ``requests`` in one call and hand each request its rows."""
        try:
            encoded = encode_together(self.encoder, [request.texts for request in requests], self.batch_size)
        except BaseException as error:  # every waiting request hears of it; the thread goes on
            for request in requests:
                request.future.set_exception(error)
            return
        for request, rows in zip(requests, encoded):
            request.future.set_result(rows)


def encode_together(encoder: Encoder, requests: Sequence[Sequence[str]], batch_size: int = 32) -> list[Encoded]:
    """The texts of several requests encoded in one call (with the query prompt), split back into one
    :class:`Encoded` per request."""
    texts = [text for request in requests for text in request]
    lengths = encoder.token_lengths(texts, role="query")
    embeddings = encoder.encode_queries(texts, batch_size=batch_size, lengths=lengths)
    encoded, start = [], 0
    for request in requests:
        end = start + len(request)
        encoded.append(Encoded(embeddings[start:end], None if lengths is None else lengths[start:end]))
        start = end
    return encoded


def encode_batch(encoder: Encoder, requests: Sequence[Sequence[str]], batch_size: int = 32) -> list[Encoded]:
    """A batch of requests encoded as :class:`QueryBatcher` encodes it on one lane: in one call, or one call per
    request where batch-mates would change each other's vectors (``onnx-int8``)."""
    if encoder.batch_independent:
        return encode_together(encoder, requests, batch_size)
    return [encoded for request in requests for encoded in encode_together(encoder, [request], batch_size)]
