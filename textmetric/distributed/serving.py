"""The service on a Ray cluster (``textmetric serve --ray``): the HTTP API and search page of ``textmetric serve``,
with the model and every shard in Ray Serve deployments of their own.

Three kinds of deployment. The *ingress* runs the very app of :func:`textmetric.serve.app.create_app` (routes,
schema, page, errors) over a :class:`RayBackend`. The *encoder* holds the index's model and encodes the queries
of concurrent requests together (``@serve.batch``, at most ``max_batch`` texts), except on ``onnx-int8``, where a
request's vectors would depend on its batch-mates: there each request is encoded alone, as
:mod:`textmetric.serve.batching` does. One *searcher* per shard folder holds that folder's :class:`LiveIndex` and
answers dense and BM25 searches, documents, and writes (through the folder's writer lock and crash-safe swap).

A query is encoded once and searched in every shard at once; each shard's top ``k`` comes back with its
documents, and the lists are merged by :func:`merge_top_k`, the merge of :class:`ShardedIndex`, into the exact top
``k`` of the union. The request itself is answered by the local service's :func:`search_answer` over a
:class:`ShardedIndex` whose shards are the searchers, so modes, fusion and refusals are those of one process: BM25
statistics are per shard, so lexical and hybrid are refused as the local sharded search refuses them, and they
fan out unchanged once a shard's BM25 scores with the collection's statistics. An add or a delete goes to the
shard that owns each id (:func:`shard_of`); a write across shards is on disk in each before it is answered, but
not atomic across them.

Ray is imported only when a service is deployed: ``import textmetric`` never loads it.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import InputError
from ..index import read_manifest
from ..index.building import load_index_model
from ..index.collection import collection_writes, is_collection, lexical_refusal, read_collection
from ..index.shards import ShardedIndex, shard_of
from ..search.ranking import Hits, merge_top_k
from ..search.retriever import MODES
from ..search.tuned_fusion import tuned_fusion_of
from ..serve.batching import DEFAULT_MAX_BATCH, DEFAULT_MAX_WAIT, MAX_WAIT_RANGE, Encoded, encode_batch
from ..serve.live import DEFAULT_LOCK_TIMEOUT, DEFAULT_POLL, POLL_RANGE, LiveIndex, Snapshot
from ..serve.server import DEFAULT_HOST, DEFAULT_PORT, bind

__all__ = ["serve_on_ray", "RayService", "RayBackend", "check_reachable", "DEFAULT_ENCODER_REPLICAS",
           "DEFAULT_SEARCHER_REPLICAS", "ENCODER_CPUS", "SEARCHER_CPUS", "INGRESS_CPUS", "APP_NAME", "LOCAL"]

DEFAULT_ENCODER_REPLICAS = 1  # copies of the model; more serve more queries at once
DEFAULT_SEARCHER_REPLICAS = 1  # copies of each shard
ENCODER_CPUS = 1.0  # CPUs Ray reserves for each encoder replica: the model's arithmetic
SEARCHER_CPUS = 0.25  # for each searcher replica: an HNSW search is short
INGRESS_CPUS = 0.25  # for the ingress: parsing, fanning out, merging
CONSTRUCTOR_RETRIES = 2  # starts of a replica Serve tries: a refusal (not an index, a model that does not fit) recurs
INGRESS_CONCURRENCY = 40  # requests an ingress replica takes at once: FastAPI's thread pool runs 40 plain routes
APP_NAME = "textmetric"  # the Serve application's name
LOCAL = "local"  # `--ray` without an address: a Ray cluster on this machine, started and stopped by the service
REACH_TIMEOUT = 3.0  # seconds the cluster's address has to accept a connection before it counts as unreachable
READY_TIMEOUT = 120.0  # seconds the deployed app has to answer /health
_RAY_CLIENT_PORT, _GCS_PORT = 10001, 6379  # Ray's defaults, for an address given without a port
_EVERY_INTERFACE = ("0.0.0.0", "::")


def serve_on_ray(indexes: str | os.PathLike | Sequence[str | os.PathLike], *, address: str | None = None,
                 host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                 encoder_replicas: int = DEFAULT_ENCODER_REPLICAS, searcher_replicas: int = DEFAULT_SEARCHER_REPLICAS,
                 model: str | os.PathLike | None = None, encoding: Mapping[str, Any] | None = None,
                 api_key: str | None = None, cors_origins: Sequence[str] = (), max_batch: int = DEFAULT_MAX_BATCH,
                 max_wait: float = DEFAULT_MAX_WAIT, poll: float = DEFAULT_POLL, batch_size: int = 32,
                 max_body_bytes: int | None = None, lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT,
                 encoder_cpus: float = ENCODER_CPUS, searcher_cpus: float = SEARCHER_CPUS,
                 name: str = APP_NAME) -> "RayService":
    """Deploy the service over the shard folders ``indexes`` (or one collection folder: its shards, lexical and
    hybrid search with its BM25 statistics, writes refused) on Ray Serve, listening on ``host``:``port``.

    ``address``: the cluster (``host:port``, ``ray://host:port`` or ``auto``); None or ``"local"`` starts one on
    this machine, stopped again by :meth:`RayService.stop` (a Ray session already open in this process is used
    as it is). The other settings are those of :class:`~textmetric.serve.Service`; writes need ``api_key``,
    and with several folders each must record its shard (``textmetric index --shard i/N``). Every folder must be
    readable by the cluster's nodes under the same path. Returns once the service answers.
    """
    paths = [Path(p) for p in ([indexes] if isinstance(indexes, (str, os.PathLike)) else indexes)]
    if not paths:
        raise InputError("no index to serve")
    collection = None  # a collection folder is served as its shards, with its BM25 statistics and no writes
    if len(paths) == 1 and is_collection(paths[0]):
        collection, paths = paths[0], [paths[0] / name for name, _, _ in read_collection(paths[0]).parts]
    elif any(is_collection(p) for p in paths):
        raise InputError("a collection folder is served alone: pass it as the only --index")
    for what, count in (("encoder_replicas", encoder_replicas), ("searcher_replicas", searcher_replicas),
                        ("max_batch", max_batch)):
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise InputError(f"{what} must be an integer of at least 1, got {count!r}")
    MAX_WAIT_RANGE.check("max_wait", max_wait)
    POLL_RANGE.check("poll", poll)
    if api_key is not None and not api_key.strip():
        raise InputError("the API key is empty")
    # The shards are checked against each other from their manifests, before anything is deployed.
    shards = [_manifest_meta(path, read_manifest(path)) for path in paths]
    if len(paths) > 1:
        ShardedIndex([_Shard(meta) for meta in shards], [str(p) for p in paths])
    for i, meta in enumerate(shards if collection is not None else []):
        if meta["shard"] != (i, len(shards)):
            raise InputError(f"{paths[i].name} holds {meta['shard'] or 'no shard'}, not shard {i}/{len(shards)}",
                             collection)
    from ..serve.schema import MAX_BODY_BYTES

    settings = {"api_key": api_key, "max_body_bytes": max_body_bytes or MAX_BODY_BYTES, "batch_size": batch_size,
                "cors_origins": list(cors_origins), "replicas": {"encoders": encoder_replicas,
                                                                  "searchers": searcher_replicas},
                "collection": None if collection is None else str(collection)}
    here = address in (None, LOCAL)  # the cluster, and so Serve's HTTP proxy, runs on this machine
    if here and port != 0:
        bind(host, port).close()  # a port already taken fails here, before the cluster and the deployments start
    ray = _ray()
    started = _connect(ray, address)
    try:
        port = port or _free_port(host)
        app = _application(paths, settings, model=model, encoding=dict(encoding or {}), max_batch=max_batch,
                           max_wait=max_wait, poll=poll, lock_timeout=lock_timeout, encoder_replicas=encoder_replicas,
                           searcher_replicas=searcher_replicas, encoder_cpus=encoder_cpus,
                           searcher_cpus=searcher_cpus)
        from ray import serve

        serve.start(http_options={"host": host, "port": port})
        try:
            handle = serve.run(app, name=name, route_prefix="/")
        except Exception as error:
            raise InputError(f"the service could not be deployed on Ray: {_deploy_error(name, error)}") from None
        shown = host if here or host not in _EVERY_INTERFACE else _host_port(address)[0]
        url = f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"
        if here:  # on a cluster elsewhere, the proxy listens on its nodes, which may not answer this machine
            _wait_until_answering(url, READY_TIMEOUT)
        summary = handle.summary.remote().result()
    except BaseException:
        _stop(name, started)
        raise
    return RayService(url, name, summary, started)


class RayService:
    """The service deployed on Ray: its ``url``, a one-line ``summary``, and :meth:`stop` (also on leaving a
    ``with`` block)."""

    def __init__(self, url: str, name: str, summary: str, stopping_cluster: bool) -> None:
        self.url, self.name, self.summary = url, name, summary
        self._stopping_cluster = stopping_cluster
        self._stopped = False

    def stop(self) -> None:
        """Delete the application; shut Serve down when no other application is left on it, and the cluster
        when this service started it."""
        if not self._stopped:
            self._stopped = True
            _stop(self.name, self._stopping_cluster)

    def wait(self) -> str:
        """Serve until Ctrl-C or SIGTERM, then :meth:`stop`; returns the name of the signal."""
        caught: list[int] = []
        woken = threading.Event()

        def catch(number: int, frame: object) -> None:
            caught.append(number)
            woken.set()

        previous = {number: signal.signal(number, catch) for number in (signal.SIGINT, signal.SIGTERM)}
        try:
            while not woken.wait(1.0):
                pass
        finally:
            try:
                self.stop()
            finally:
                for number, handler in previous.items():
                    signal.signal(number, handler)
        return signal.Signals(caught[0]).name

    def __enter__(self) -> "RayService":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"RayService({self.url!r}, {self.summary!r})"


# -- the cluster ------------------------------------------------------------------------------------------


def _ray():
    try:
        import ray
    except ImportError:
        raise InputError("serving on Ray needs the ray extra: pip install 'textmetric[ray]'") from None
    return ray


def check_reachable(address: str, timeout: float = REACH_TIMEOUT) -> None:
    """Refuse, within ``timeout`` seconds, a cluster address nothing listens on (``ray.init`` would retry for a
    minute); ``auto`` is left to Ray."""
    if address == "auto":
        return
    host, port = _host_port(address)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as error:
        reason = "no answer" if isinstance(error, socket.timeout) else (getattr(error, "strerror", None) or error)
        raise InputError(f"cannot reach the Ray cluster at {address}: {reason}") from None


def _host_port(address: str) -> tuple[str, int]:
    """The host and port of a cluster address (``host:port`` or ``ray://host:port``; Ray's port by default)."""
    client = address.startswith("ray://")
    where = address.removeprefix("ray://").rstrip("/")
    host, colon, port = where.rpartition(":")
    if not colon or not port.isdigit() or (":" in host and not host.endswith("]")):  # no port, or a bare IPv6
        host, port = where, str(_RAY_CLIENT_PORT if client else _GCS_PORT)
    return host.strip("[]"), int(port)


def _connect(ray, address: str | None) -> bool:
    """Join the cluster at ``address`` (or start one); returns whether this process started it."""
    if ray.is_initialized():
        return False
    if address in (None, LOCAL):
        ray.init(include_dashboard=False, configure_logging=False, log_to_driver=False)
        return True
    check_reachable(address)
    ray.init(address=address, configure_logging=False, log_to_driver=False)
    return False


def _stop(name: str, stop_cluster: bool) -> None:
    ray = _ray()
    if not ray.is_initialized():
        return
    from ray import serve

    try:
        serve.delete(name)
        if not serve.status().applications:
            serve.shutdown()
    finally:
        if stop_cluster:
            ray.shutdown()


def _free_port(host: str) -> int:
    sock = bind(host, 0)
    try:
        return sock.getsockname()[1]
    finally:
        sock.close()


def _wait_until_answering(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through an HTTP proxy
    while True:
        try:
            with direct.open(f"{url}/health", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise InputError(f"the service on Ray did not answer at {url} within {timeout:.0f} s")
        time.sleep(0.2)


def _deploy_error(name: str, error: BaseException) -> str:
    """Why the application failed to deploy, in one line: the refusal a replica raised (a folder that is not an
    index, a model that does not fit it), found in the status of its deployments, which ends with it."""
    from ray import serve

    try:
        application = serve.status().applications[name]
        reports = [d.message for d in application.deployments.values() if d.message] + [application.message]
    except Exception:  # the status is a courtesy: the error itself says that the deployment failed
        reports = []
    for report in reports:
        refusals = re.findall(r"InputError: (.+)", report)
        if refusals:
            return refusals[-1].strip()
    lines = [line.strip() for report in reports + [str(error)] for line in report.splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


# -- the deployments --------------------------------------------------------------------------------------


def _application(paths: Sequence[Path], settings: dict, *, model, encoding: dict, max_batch: int, max_wait: float,
                 poll: float, lock_timeout: float | None, encoder_replicas: int, searcher_replicas: int,
                 encoder_cpus: float, searcher_cpus: float):
    """The Serve application: the ingress bound to the encoder and one searcher per shard folder."""
    from ray import serve

    model = None if model is None else str(model)
    retries = {"max_constructor_retry_count": CONSTRUCTOR_RETRIES}
    encoder = serve.deployment(QueryEncoder, name="encoder", num_replicas=encoder_replicas, **retries,
                               max_ongoing_requests=max(max_batch, 8),  # a batch fills from concurrent requests
                               ray_actor_options={"num_cpus": encoder_cpus}).bind(
        str(paths[0]), model, encoding, max_batch, max_wait, settings["batch_size"])
    searchers = [serve.deployment(ShardSearcher, name=f"shard-{number}", num_replicas=searcher_replicas, **retries,
                                  ray_actor_options={"num_cpus": searcher_cpus}).bind(
        str(path), model, encoding, poll, settings["batch_size"], lock_timeout) for number, path in enumerate(paths)]
    ingress = serve.deployment(serve.ingress()(Ingress), name="ingress", max_ongoing_requests=INGRESS_CONCURRENCY,
                               ray_actor_options={"num_cpus": INGRESS_CPUS}, **retries)
    return ingress.bind(encoder, searchers, settings)


class QueryEncoder:
    """The encoder deployment: the index's model, encoding the queries of concurrent requests together."""

    def __init__(self, index_path: str, model: str | None, encoding: dict, max_batch: int, max_wait: float,
                 batch_size: int) -> None:
        from ray import serve

        # The manifest says which model, prompts and dimension the index needs; the vectors stay on disk.
        manifest = read_manifest(index_path)
        self.encoder = load_index_model(manifest, model, **encoding)
        self.tuned_fusion = tuned_fusion_of(manifest.model, model)  # as the local service and `search` use it
        self.batch_size, self.max_batch, self.max_wait = batch_size, max_batch, max_wait
        self.batches = self.texts = 0
        self._encode = serve.batch(max_batch_size=max_batch, batch_wait_timeout_s=max_wait,
                                   batch_size_fn=_texts_in)(self._encode_batch)

    async def encode(self, texts: list[str]) -> Encoded:
        """One request's query embeddings (and token counts), encoded with whatever else arrives meanwhile."""
        return await self._encode(texts)

    async def _encode_batch(self, requests: list[list[str]]) -> list[Encoded]:
        encoded = await asyncio.to_thread(encode_batch, self.encoder, requests, self.batch_size)
        self.batches += 1
        self.texts += _texts_in(requests)
        return encoded

    def describe(self) -> dict:
        return {"backend": self.encoder.backend, "max_seq_length": self.encoder.max_seq_length,
                "tuned_fusion": self.tuned_fusion,
                "prompts": self.encoder.prompts, "max_batch": self.max_batch, "max_wait": self.max_wait,
                "batches": self.batches, "queries": self.texts}


def _texts_in(requests: list[list[str]]) -> int:
    return sum(len(texts) for texts in requests)


class ShardSearcher:
    """A searcher deployment: one shard folder, loaded and kept up to date (:class:`LiveIndex`, whose watcher
    notices changes made by other processes and replicas)."""

    def __init__(self, path: str, model: str | None, encoding: dict, poll: float, batch_size: int,
                 lock_timeout: float | None) -> None:
        self.live = LiveIndex([path], poll=poll, batch_size=batch_size, lock_timeout=lock_timeout)
        self.model, self.encoding = model, encoding
        self.live.start()

    def describe(self) -> dict:
        """What the ingress needs to know of the shard: :func:`_meta` of its current state."""
        return _meta(self.live.paths[0], self.live.current)

    def search(self, mode: str, queries: Any, k: int, ef: int | None, spec: Any, generation: str | None) -> dict:
        """The top ``k`` of each query in this shard (``mode`` dense: ``queries`` are embeddings; lexical: texts),
        with the hits' documents, and the shard's description when it is not at the ``generation`` the ingress
        knows (after it has looked for a newer one, so a replica that missed another's write catches up)."""
        if self.live.current.index.generation != generation:
            self.live.refresh()
        snapshot = self.live.current
        index = snapshot.index
        hits = index.search(queries, k, ef, filter=spec) if mode == "dense" else \
            index.search_lexical(queries, k, filter=spec)
        found = {doc_id for query in hits for doc_id, _ in query}
        return {"hits": hits, "documents": {doc_id: index.document(doc_id) for doc_id in found},
                "shard": None if index.generation == generation else _meta(self.live.paths[0], snapshot)}

    def document(self, doc_id: str) -> Any:
        return self.live.current.index.document(doc_id)

    def add(self, corpus: dict) -> tuple[int, int, dict]:
        """Encode and add documents of this shard, on disk before it returns: (added, replaced, description)."""
        if self.live.encoder is None:  # loaded on the first write: a searcher that only searches needs no model
            self.live.encoder = load_index_model(self.live.current.index, self.model, **self.encoding)
        added, replaced = self.live.add(corpus)
        return added, replaced, self.describe()

    def delete(self, ids: list[str]) -> tuple[list[str], dict]:
        """Delete documents of this shard, on disk before it returns: (ids not found, description)."""
        missing = self.live.delete(ids)
        return missing, self.describe()

    def __del__(self) -> None:
        self.live.stop()


def _meta(path: Path, snapshot: Snapshot) -> dict:
    """What the ingress knows of a shard: its shape, model, fields, generation, and the index's own refusal of
    each mode it cannot serve alone (for a service of one folder, which answers as the index does)."""
    index = snapshot.index
    return {"name": path.name, "path": str(path), "documents": len(index), "dim": index.dim, "space": index.space,
            "model": index.model, "shard": index.shard, "ef": index.ef, "lexical_settings": index.lexical_settings,
            "field_kinds": index.field_kinds(), "generation": index.generation,
            "refusals": {mode: _refusal(index, mode) for mode in MODES if mode != "dense"}}


def _refusal(index: Any, mode: str) -> str | None:
    try:
        index.check_lexical(mode)
    except InputError as error:
        return str(error)
    return None


def _manifest_meta(path: Path, manifest: Any) -> dict:
    return {"name": path.name, "path": str(path), "documents": manifest.count, "dim": manifest.dim,
            "space": manifest.space, "model": manifest.model, "shard": manifest.shard, "ef": manifest.ef,
            "lexical_settings": manifest.lexical, "field_kinds": {}, "generation": None, "refusals": {}}


class Ingress:
    """The ingress deployment: the app of :func:`create_app` over a :class:`RayBackend`."""

    async def __init__(self, encoder: Any, searchers: list, settings: dict) -> None:
        # The constructor runs in the replica's event loop: the deployments' answers are awaited here.
        model = await encoder.describe.remote()
        shards = list(await asyncio.gather(*[searcher.describe.remote() for searcher in searchers]))
        self.cors_origins = settings.pop("cors_origins", [])
        self.backend = RayBackend(encoder, searchers, model, shards, **settings)

    def __serve_build_asgi_app__(self):
        from ..serve.app import create_app

        return create_app(self.backend, cors_origins=self.cors_origins)

    async def summary(self) -> str:
        return await asyncio.to_thread(self.backend.summary)  # it waits on the encoder: not in the event loop


# -- the backend of the routes ----------------------------------------------------------------------------


class _Shard:
    """A shard as one request sees it: what its searcher last said of it, and the documents of the hits it
    answered in this request (what :class:`ShardedIndex` asks of a shard, without the vectors)."""

    def __init__(self, meta: dict, searcher: Any = None) -> None:
        self.meta, self.searcher = meta, searcher
        self.name, self.dim, self.space, self.model = meta["name"], meta["dim"], meta["space"], meta["model"]
        self.shard, self.ef, self.generation = meta["shard"], meta["ef"], meta["generation"]
        self.lexical_settings = meta["lexical_settings"]
        self.found: dict[str, Any] = {}

    def __len__(self) -> int:
        return self.meta["documents"]

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self.found

    def field_kinds(self) -> dict[str, frozenset[str]]:
        return self.meta["field_kinds"]

    def document(self, doc_id: str) -> Any:
        return self.found.get(doc_id)

    def changed(self) -> bool:
        return False


class _FannedOut(ShardedIndex):
    """The shards searched as one for one request: every searcher at once, the lists merged as
    :class:`ShardedIndex` merges them; the policy (filters against every shard's fields, which modes) is
    :class:`ShardedIndex`'s own."""

    def __init__(self, backend: "RayBackend", shards: Sequence[_Shard], *, collection: bool = False,
                 lexical_refusal: str | None = None) -> None:
        super().__init__(shards, [shard.meta["path"] for shard in shards],
                         **({"lexical_refusal": lexical_refusal} if collection else {}))
        self._backend = backend
        self._alone = len(shards) == 1 and not collection

    # One folder is served as the index itself is: with its BM25 side, if it has one. A collection's shards
    # score with its statistics, as its ShardedIndex does.

    @property
    def lexical_settings(self) -> Any:
        return self.shards[0].lexical_settings if self._alone else super().lexical_settings

    def check_lexical(self, mode: str) -> None:
        if not self._alone:
            return super().check_lexical(mode)
        refusal = self.shards[0].meta["refusals"].get(mode)
        if refusal is not None:
            raise InputError(refusal)

    def search(self, query_embeddings: np.ndarray, k: int, ef: int | None = None, *, filter=None) -> list[Hits]:
        return self._fan_out("dense", query_embeddings, k, ef, self.check_filter(filter))

    def search_lexical(self, query_texts: Sequence[str], k: int, *, filter=None) -> list[Hits]:
        return self._fan_out("lexical", list(query_texts), k, None, self.check_filter(filter))

    def _fan_out(self, mode: str, queries: Any, k: int, ef: int | None, spec: Any) -> list[Hits]:
        calls = [shard.searcher.search.remote(mode, queries, k, ef, spec, shard.generation) for shard in self.shards]
        per_shard = []
        for number, answer in enumerate(_gather(calls)):
            self.shards[number].found.update(answer["documents"])
            if answer["shard"] is not None:
                self._backend.learn(number, answer["shard"])
            per_shard.append(answer["hits"])
        return [merge_top_k(lists, k) for lists in zip(*per_shard)]  # a document in two shards counts once


class RayBackend:
    """The :class:`~textmetric.serve.backend.Backend` of the ingress: requests answered by the encoder and the
    searcher deployments (``encoder``, ``searchers``: their handles, one searcher per shard; ``model``, ``shards``:
    what they first said of themselves). Its methods wait for the deployments: call them from worker threads,
    as FastAPI calls plain routes, never from the event loop."""

    def __init__(self, encoder: Any, searchers: Sequence[Any], model: dict, shards: Sequence[dict], *,
                 api_key: str | None, max_body_bytes: int, batch_size: int = 32,
                 replicas: Mapping[str, int] | None = None, collection: str | None = None) -> None:
        self.encoder, self.searchers = encoder, list(searchers)
        self.api_key, self.max_body_bytes, self.batch_size = api_key, max_body_bytes, batch_size
        self.replicas = dict(replicas or {})
        self.state = 0  # +1 each time a shard is seen at another generation
        self.loaded_at = time.time()
        self._lock = threading.Lock()
        self._model, self._metas = model, list(shards)
        # A collection's folder and record: its statistics hold while every shard is at its recorded generation.
        self.collection = None if collection is None else (collection, read_collection(collection))
        self._index()  # the shards fit together
        recorded = [meta["shard"] for meta in self._metas]
        self._owners = {shard[0]: number for number, shard in enumerate(recorded)} \
            if len(recorded) > 1 and all(r is not None for r in recorded) else None

    # -- what the routes call ----------------------------------------------------------------------------

    @property
    def writes_refused(self) -> str | None:
        if self.collection is not None:
            return collection_writes(self.collection[0], "the service's writes go to")
        if len(self.searchers) == 1 or self._owners is not None:
            return None
        return (f"writes to {len(self.searchers)} indexes need each to record its shard (textmetric index "
                f"--shard i/N), so that every id has one owner")

    @property
    def writes(self) -> bool:
        return self.api_key is not None and self.writes_refused is None

    def start(self) -> None:
        """Nothing to start: each searcher watches its own folder."""

    def stop(self) -> None:
        """Nothing to stop here: the deployments stop with the application."""

    def search(self, request: Any) -> dict:
        from ..serve.service import search_answer

        state = self.state
        return search_answer(request, self._index(), self._encode, self._model["max_seq_length"], state=state,
                             batch_size=self.batch_size, tuned_fusion=self._model.get("tuned_fusion"))

    def document(self, doc_id: str) -> dict | None:
        from ..serve.service import document_record

        owner = self._owner(doc_id) if self._owners is not None else None
        numbers = [owner] if owner is not None else range(len(self.searchers))
        found = _gather([self.searchers[n].document.remote(doc_id) for n in numbers])
        return document_record(doc_id, next((doc for doc in found if doc is not None), None))

    def add(self, documents: Sequence[Any]) -> dict:
        from ..serve.service import read_documents

        corpus = read_documents(documents)
        parts: dict[int, dict] = {}
        for doc_id, doc in corpus.items():
            owner = self._owner(doc_id)
            if owner is None:
                i, n = shard_of(doc_id, self._metas[0]["shard"][1]), self._metas[0]["shard"][1]
                raise InputError(f"document '{doc_id}' belongs to shard {i}/{n}, which this service does not serve")
            parts.setdefault(owner, {})[doc_id] = doc
        numbers = list(parts)
        added = replaced = 0
        for number, (new, old, meta) in zip(numbers, _gather([self.searchers[n].add.remote(parts[n])
                                                              for n in numbers])):
            self.learn(number, meta)
            added, replaced = added + new, replaced + old
        return {"added": added, "replaced": replaced, "documents": self._documents(), "state": self.state}

    def delete(self, ids: Sequence[str]) -> dict:
        unique = list(dict.fromkeys(ids))
        parts: dict[int, list[str]] = {}
        unowned = []
        for doc_id in unique:
            owner = self._owner(doc_id)
            (unowned.append(doc_id) if owner is None else parts.setdefault(owner, []).append(doc_id))
        numbers = list(parts)
        missing = set(unowned)
        for number, (gone, meta) in zip(numbers, _gather([self.searchers[n].delete.remote(parts[n])
                                                          for n in numbers])):
            self.learn(number, meta)
            missing.update(gone)
        return {"deleted": len(unique) - len(missing), "not_found": [d for d in unique if d in missing],
                "documents": self._documents(), "state": self.state}

    def info(self) -> dict:
        from ..search.fusion import FUSIONS
        from ..serve.service import index_entry, lexical_info, limits, served_modes, version

        encoder = _gather([self.encoder.describe.remote()])[0]
        index = self._index()
        model = index.model or {}
        return {
            "version": version(),
            "documents": self._documents(),
            "indexes": [index_entry(meta["name"], meta["documents"], meta["shard"]) for meta in self._metas],
            "model": {"name": model.get("given_name") or model.get("name"), "backend": encoder["backend"],
                      "dim": index.dim, "max_seq_length": encoder["max_seq_length"], "prompts": encoder["prompts"]},
            "space": index.space,
            "modes": served_modes(index),
            "fusions": list(FUSIONS),
            "lexical": lexical_info(index.lexical_settings),
            "ef": index.ef,
            "generations": [meta["generation"] for meta in self._metas],
            "writes": self.writes,
            "state": self.state,
            "loaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.loaded_at)),
            "reload_error": None,
            "limits": limits(self.max_body_bytes),
            "batching": {"max_batch": encoder["max_batch"], "max_wait_ms": 1000 * encoder["max_wait"],
                         "batches": encoder["batches"], "queries": encoder["queries"]},  # of the replica that answered
            "ray": {"encoder_replicas": self.replicas.get("encoders"),
                    "searcher_replicas": self.replicas.get("searchers"), "shards": len(self.searchers)},
        }

    def summary(self) -> str:
        from ..serve.service import summary_line

        refused = self.writes_refused
        why = "a collection" if self.collection is not None else "shards without their numbers"
        return (f"on Ray: {len(self.searchers)} shard(s) × {self.replicas.get('searchers', 1)} searcher(s), "
                f"{self.replicas.get('encoders', 1)} encoder(s); "
                + summary_line(self.info(), None if refused is None else why))

    # -- the shards ----------------------------------------------------------------------------------------

    def learn(self, number: int, meta: dict) -> None:
        """Take a searcher's description of its shard, counting a new generation as a new state; a collection's
        record is read again then, as a rebuilt collection records its shards' new generations."""
        with self._lock:
            if meta["generation"] != self._metas[number]["generation"]:
                self._metas[number] = meta
                self.state += 1
                if self.collection is not None:
                    try:
                        self.collection = (self.collection[0], read_collection(self.collection[0]))
                    except InputError:
                        pass  # the record kept does not name the new generation: lexical search stays refused

    def _index(self) -> _FannedOut:
        with self._lock:
            metas = list(self._metas)
        shards = [_Shard(meta, searcher) for meta, searcher in zip(metas, self.searchers)]
        if self.collection is None:
            return _FannedOut(self, shards)
        refusal = lexical_refusal(*self.collection, [m["generation"] for m in metas],
                                  [m["lexical_settings"] for m in metas])
        return _FannedOut(self, shards, collection=True, lexical_refusal=refusal)

    def _documents(self) -> int:
        with self._lock:
            return sum(meta["documents"] for meta in self._metas)

    def _owner(self, doc_id: str) -> int | None:
        """The shard (its position here) that owns ``doc_id``; None when that shard is not served here."""
        if len(self.searchers) == 1:
            return 0
        return self._owners.get(shard_of(doc_id, self._metas[0]["shard"][1]))

    def _encode(self, texts: list[str]) -> Encoded:
        return _gather([self.encoder.encode.remote(texts)])[0]


def _gather(calls: Sequence[Any]) -> list:
    """The results of deployment calls made at once; the first failure raised once all have ended, as the
    exception its deployment raised (an InputError stays a 400, a LockTimeout a 503), not Ray's wrapper."""
    from ray.exceptions import RayTaskError

    results, failure = [], None
    for call in calls:
        try:
            results.append(call.result())
        except RayTaskError as error:
            cause = getattr(error, "cause", None)
            failure = failure or (cause if isinstance(cause, Exception) else error)
            results.append(None)
        except Exception as error:
            failure = failure or error
            results.append(None)
    if failure is not None:
        raise failure
    return results
