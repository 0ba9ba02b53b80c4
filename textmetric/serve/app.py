"""The HTTP service: FastAPI routes over a :class:`Backend` (the one-process :class:`Service`, or the service on a
Ray cluster), the search page, and the rules for bad requests.

Every error is a JSON object ``{"error": "one line"}`` with a 4xx status for a bad
request (422 for a body that breaks the schema, naming the field; 400 for a value the
library refuses; 401/403 for writes without the key; 413 for a body over the limit), and
a 500 without a traceback for anything else; the service keeps serving either way.
Writes need the API key (``Authorization: Bearer KEY`` or ``X-API-Key: KEY``, compared in
constant time). No CORS unless origins are given. Nothing from a request is used as a path.
"""

from __future__ import annotations

import hmac
import logging
import os
from contextlib import asynccontextmanager
from importlib import resources
from typing import Sequence

from fastapi import Body, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException

from ..errors import InputError
from ..evaluation.formatting import to_json
from ..index import LockTimeout
from .backend import Backend
from .schema import (AddResponse, DeleteRequest, DeleteResponse, DocumentIn, DocumentOut, ErrorResponse,
                     SearchRequest, SearchResponse)
from .server import API_KEY_ENV
from .service import Service, version

__all__ = ["create_app"]

_PAGE_FILES = {"/": ("index.html", "text/html; charset=utf-8"),
               "/app.js": ("app.js", "text/javascript; charset=utf-8"),
               "/style.css": ("style.css", "text/css; charset=utf-8"),
               "/favicon.svg": ("favicon.svg", "image/svg+xml")}
# The page loads nothing from elsewhere: its own script, style and API only.
_PAGE_HEADERS = {"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                                            "connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
                                            "form-action 'none'; frame-ancestors 'none'",
                 "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
_ERRORS = {code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 413, 422, 503)}
_log = logging.getLogger("textmetric.serve")


def create_app(indexes: str | os.PathLike | Sequence[str | os.PathLike] | Backend, *,
               cors_origins: Sequence[str] = (), **settings) -> FastAPI:
    """The service's app over ``indexes`` (one folder, several shards, or a :class:`Backend` already made,
    such as a :class:`Service`).

    ``settings`` go to :class:`Service`: ``model``, ``encoding``, ``api_key``, ``max_batch``,
    ``max_wait``, ``poll``, ``batch_size``, ``max_body_bytes``, ``lock_timeout``. The model and index
    load here, once; the watcher of the index folders runs while the app is being served.
    """
    service = indexes if isinstance(indexes, Backend) else Service(indexes, **settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service.start()
        try:
            yield
        finally:
            service.stop()

    # FastAPI's own /docs and /redoc pages load their scripts from a CDN, so they are blank offline;
    # fastapi-offline serves the same pages with Swagger UI and ReDoc from its package.
    app = FastAPIOffline(title="textmetric", version=version(), lifespan=lifespan, favicon_url="/favicon.svg",
                         description="Semantic search over a textmetric index: dense, lexical (BM25) or hybrid.")
    app.state.service = service
    _add_error_handlers(app)
    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Content-Type", "Authorization", "X-API-Key"])
    app.add_middleware(BodyLimit, limit=service.max_body_bytes)

    @app.post("/search", response_model=SearchResponse, responses=_ERRORS, tags=["search"])
    def search(request: SearchRequest) -> Response:
        """Search one query (`query`) or several (`queries`); hits in trec_eval order, with what the score is."""
        # Serialised here rather than validated again against the response model: the hot path.
        return Response(to_json(service.search(request), ensure_ascii=False).encode("utf-8"),
                        media_type="application/json")

    @app.get("/documents/{doc_id:path}", response_model=DocumentOut, responses=_ERRORS, tags=["documents"])
    def get_document(doc_id: str) -> dict:
        """A document as the index holds it."""
        document = service.document(doc_id)
        if document is None:
            raise HTTPException(404, f"no document '{doc_id}' in the index")
        return document

    @app.post("/documents", response_model=AddResponse, responses=_ERRORS, tags=["documents"],
              dependencies=[Depends(_writer)])
    def add_documents(documents: list[DocumentIn] = Body(min_length=1)) -> dict:
        """Add documents, or replace those whose id is in the index; answered once the index is on disk."""
        return service.add(documents)

    @app.delete("/documents", response_model=DeleteResponse, responses=_ERRORS, tags=["documents"],
                dependencies=[Depends(_writer)])
    def delete_documents(request: DeleteRequest) -> dict:
        """Delete documents by id; answered once the index is on disk."""
        return service.delete(request.ids)

    @app.get("/health", tags=["service"])
    def health() -> dict:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/info", tags=["service"])
    def info() -> dict:
        """What is served: documents, model, modes, limits, whether writes are on, the index state."""
        return service.info()

    static = resources.files(__package__) / "static"
    for route, (name, media_type) in _PAGE_FILES.items():
        _add_page_file(app, route, (static / name).read_bytes(), media_type)
    return app


def _add_page_file(app: FastAPI, route: str, content: bytes, media_type: str) -> None:
    def page_file() -> Response:
        return Response(content, media_type=media_type, headers=_PAGE_HEADERS)

    app.get(route, include_in_schema=False)(page_file)


def _writer(request: Request) -> None:
    """Let a write through only when writes are on and the request carries the API key."""
    service: Backend = request.app.state.service
    if service.api_key is None:
        raise HTTPException(403, f"writes are off: start the service with --api-key KEY (or {API_KEY_ENV})")
    if service.writes_refused is not None:
        raise HTTPException(403, service.writes_refused)
    given = _given_key(request)
    if given is None or not hmac.compare_digest(given.encode("utf-8"), service.api_key.encode("utf-8")):
        raise HTTPException(401, "this needs the service's API key (Authorization: Bearer KEY, or X-API-Key: KEY)",
                            headers={"WWW-Authenticate": "Bearer"})


def _given_key(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, key = header.partition(" ")
        return key.strip() if scheme.lower() == "bearer" else None
    return request.headers.get("x-api-key")


# -- errors ---------------------------------------------------------------------------------------


def _error(status: int, message: str, headers: dict | None = None, **extra) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [_problem(e) for e in error.errors()]
        shown = "; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else "")
        return _error(422, shown or "invalid request", detail=problems)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        return _error(error.status_code, str(error.detail), getattr(error, "headers", None))

    @app.exception_handler(InputError)
    async def refused(request: Request, error: InputError) -> JSONResponse:
        return _error(400, str(error))

    @app.exception_handler(LockTimeout)
    async def busy(request: Request, error: LockTimeout) -> JSONResponse:  # another process is writing
        return _error(503, str(error), {"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def failed(request: Request, error: Exception) -> JSONResponse:
        _log.error("%s %s failed", request.method, request.url.path, exc_info=error)
        return _error(500, f"internal error ({type(error).__name__}); the service goes on")


def _problem(error: dict) -> str:
    """One validation error in a line: where in the body, and what is wrong."""
    location = [part for part in error.get("loc", ()) if part != "body"]
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in location).lstrip(".")
    message = str(error.get("msg", "invalid"))
    message = message.removeprefix("Value error, ")
    if error.get("type") == "json_invalid":
        reason = (error.get("ctx") or {}).get("error")
        return f"malformed JSON{f': {reason}' if reason else ''}"
    return f"{where}: {message}" if where else message


# -- the body limit -------------------------------------------------------------------------------


class _TooLarge(HTTPException):
    """Raised while the body streams in; an HTTPException, so that FastAPI's body reader lets it through."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large(limit))


def _too_large(limit: int) -> str:
    return f"the request body is over the limit of {limit:,} bytes"


class BodyLimit:
    """Refuse a request body over ``limit`` bytes with 413, by its Content-Length or as it streams in."""

    def __init__(self, app, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                return await _send_error(send, 400, "malformed Content-Length header")
            if int(declared) > self.limit:
                return await _send_error(send, 413, _too_large(self.limit))
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLarge(self.limit)
            return message

        await self.app(scope, counted, send)


async def _send_error(send, status: int, message: str) -> None:
    response = _error(status, message)
    await send({"type": "http.response.start", "status": status, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})
