"""The service: an index, its model and a search page behind HTTP, in one process (``textmetric serve``).

``service`` is what it does in plain Python (a shell over ``Retriever``, ``add_documents``
and ``Index.delete``); ``backend`` the interface the routes call, which ``service`` and the
service on Ray (``textmetric.distributed.serving``) implement; ``app`` the FastAPI routes and
the rules for bad requests;
``batching`` encodes concurrent queries together; ``live`` holds the loaded index and swaps
in a new state when the folder changes; ``schema`` the JSON models and limits; ``server``
runs the app under uvicorn; ``client`` the service from Python; ``static/`` the search page.
The command is ``textmetric.cli.serve``.
"""

from .client import Client, ServiceError

__all__ = ["Client", "ServiceError", "create_app", "Service"]


def __getattr__(name: str):
    # The app and the service import FastAPI and the model stack: loaded on first use, so that the
    # client stays a light import.
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "Service":
        from .service import Service

        return Service
    raise AttributeError(f"module 'textmetric.serve' has no attribute '{name}'")
