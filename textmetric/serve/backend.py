"""What the HTTP routes call: a small interface that the one-process :class:`Service` and the service on a Ray
cluster both implement, so that the routes, the schema, the page and the rules for bad requests exist once."""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

from .schema import DocumentIn, SearchRequest

__all__ = ["Backend"]


@runtime_checkable
class Backend(Protocol):
    """Search, documents by id, add, delete, info; the API key and the body limit the routes enforce.

    Each answer is the JSON object of its endpoint (see ``schema.py``); a refused value raises
    :class:`~textmetric.errors.InputError` (400), another process's writer lock
    :class:`~textmetric.index.LockTimeout` (503).
    """

    api_key: str | None  # writes need it; None: writes are off
    max_body_bytes: int

    @property
    def writes_refused(self) -> str | None:
        """Why writes cannot be made here even with the key (e.g. several indexes and nowhere to route them),
        or None."""

    def start(self) -> None:
        """Called once when the app starts serving."""

    def stop(self) -> None:
        """Called once when the app stops serving."""

    def search(self, request: SearchRequest) -> dict:
        """``POST /search``."""

    def document(self, doc_id: str) -> dict | None:
        """``GET /documents/{id}``: the document, or None when no index holds it."""

    def add(self, documents: Sequence[DocumentIn]) -> dict:
        """``POST /documents``: on disk before it returns."""

    def delete(self, ids: Sequence[str]) -> dict:
        """``DELETE /documents``: on disk before it returns."""

    def info(self) -> dict:
        """``GET /info``."""

    def summary(self) -> str:
        """One line for the console: documents, model, modes, whether writes are on."""
