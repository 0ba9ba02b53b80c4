"""``Client``: a running ``textmetric serve`` from Python, with the in-process API's types.

``search`` answers a run ``{query_id: {doc_id: score}}`` as ``Retriever.search`` does,
``add`` (added, replaced) as ``add_documents``, ``delete`` the ids not found as
``Index.delete``, ``document`` a ``Document`` or None as ``Index.document``. A request the
service refuses raises :class:`~textmetric.errors.InputError` with its one-line reason.
The standard library only (``http.client``), one kept-alive connection per thread.
"""

from __future__ import annotations

import http.client
import json
import threading
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence
from urllib.parse import quote, urlsplit

from ..data import Document, load_corpus, number_queries
from ..errors import InputError

if TYPE_CHECKING:
    from ..data import CorpusSource
    from ..evaluation.metrics import Run

__all__ = ["Client", "ServiceError"]


class ServiceError(RuntimeError):
    """The service failed on a request (a 5xx answer), or answered something that is not its JSON."""


class Client:
    """The service at ``url`` (``http://127.0.0.1:8000`` by default); ``api_key`` for writes.

    Safe to share between threads: each thread keeps its own connection.
    """

    def __init__(self, url: str = "http://127.0.0.1:8000", *, api_key: str | None = None,
                 timeout: float = 60.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"expected a service URL such as http://127.0.0.1:8000, got '{url}'")
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self._scheme, self._host, self._port = parts.scheme, parts.hostname, parts.port
        self._prefix = parts.path.rstrip("/")
        self._local = threading.local()

    # -- the API -----------------------------------------------------------------------------------

    def search(self, queries: Mapping[str, str] | Sequence[str], k: int = 10, **options: Any) -> "Run":
        """``{query_id: {doc_id: score}}``, hits in trec_eval order, as ``Retriever.search`` gives (a list's ids
        are its positions from "0"). ``options``: ``mode``, ``fusion``, ``alpha``, ``rrf_k``, ``depth``, ``ef``,
        ``filter``, as ``POST /search`` takes them."""
        answer = self.search_hits(queries, k, with_documents=False, **options)  # ids and scores are all a Run holds
        return {result["query_id"]: {hit["doc_id"]: hit["score"] for hit in result["hits"]}
                for result in answer["results"]}

    def search_hits(self, queries: Mapping[str, str] | Sequence[str] | str, k: int = 10, **options: Any) -> dict:
        """The whole answer of ``POST /search``: each query's hits with title, text and fields, the score kind,
        warnings (a single string is one query, id "0")."""
        if isinstance(queries, str):
            body: dict[str, Any] = {"query": queries}
        else:
            body = {"queries": dict(queries) if isinstance(queries, Mapping) else number_queries(list(queries))}
        body.update(k=k, **{name: value for name, value in options.items() if value is not None})
        return self._call("POST", "/search", body)

    def document(self, doc_id: str) -> Document | None:
        """The stored document, or None when the index does not hold ``doc_id``."""
        status, answer = self._request("GET", f"/documents/{quote(doc_id, safe='')}")
        if status == 404:
            return None
        record = self._checked(status, answer)
        return Document(text=record["text"], title=record["title"], fields=record.get("fields") or {})

    def add(self, corpus: "CorpusSource") -> tuple[int, int]:
        """Add documents (any form ``load_corpus`` reads, a local file included); an id already in the index is
        replaced. Returns (added, replaced) once the index is on disk."""
        documents = [{**doc.fields, "_id": doc_id, "title": doc.title, "text": doc.text}  # a corpus file's record
                     for doc_id, doc in load_corpus(corpus).items()]
        answer = self._call("POST", "/documents", documents)
        return answer["added"], answer["replaced"]

    def delete(self, ids: Iterable[str]) -> list[str]:
        """Delete documents by id once the index is on disk; returns the ids that were not in the index."""
        return self._call("DELETE", "/documents", {"ids": list(ids)})["not_found"]

    def info(self) -> dict:
        """What the service serves: documents, model, modes, limits, whether writes are on."""
        return self._call("GET", "/info")

    def health(self) -> bool:
        """Whether the service answers."""
        try:
            return self._call("GET", "/health").get("status") == "ok"
        except (OSError, ServiceError):
            return False

    # -- HTTP --------------------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        return self._checked(*self._request(method, path, body))

    @staticmethod
    def _checked(status: int, answer: Any) -> Any:
        if status < 400:
            return answer
        reason = answer.get("error") if isinstance(answer, dict) else None
        if status < 500:
            raise InputError(reason or f"the service refused the request (HTTP {status})")
        raise ServiceError(reason or f"the service failed (HTTP {status})")

    def _request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        payload = None if body is None else json.dumps(body, allow_nan=False).encode("utf-8")
        headers = {"Accept": "application/json"}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        if self.api_key is not None and method != "GET":
            headers["Authorization"] = f"Bearer {self.api_key}"
        for attempt in (1, 2):
            connection, fresh = self._connection()
            try:
                connection.request(method, self._prefix + path, body=payload, headers=headers)
                response = connection.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # a kept-alive connection the server closed meanwhile: once more on a new one
                self._drop()
                if fresh or attempt == 2:
                    raise
            except BaseException:
                self._drop()
                raise
        if response.getheader("Connection", "").lower() == "close":
            self._drop()
        try:
            return response.status, json.loads(data) if data else None
        except ValueError:
            raise ServiceError(f"the service answered HTTP {response.status} with something that is not JSON") \
                from None

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            return connection, False
        kind = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
        self._local.connection = kind(self._host, self._port, timeout=self.timeout)
        return self._local.connection, True

    def _drop(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        self._drop()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.url!r})"
