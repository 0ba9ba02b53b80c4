"""Running the app under uvicorn: in the foreground until Ctrl-C or SIGTERM, or in a background thread.

The socket is bound here, before uvicorn starts, so that port 0 (any free port) gives a
URL that can be printed, and a port already taken fails before anything is served.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from typing import Callable, Iterator

from ..errors import InputError

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "API_KEY_ENV", "serve", "running", "bind", "url_of"]

API_KEY_ENV = "TEXTMETRIC_API_KEY"  # where `textmetric serve` reads the API key when --api-key is not given
DEFAULT_HOST = "127.0.0.1"  # this machine only, unless --host says otherwise
DEFAULT_PORT = 8000
_GRACE = 10  # seconds requests in flight get to finish at shutdown


def bind(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (0: a free port the system picks)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        # IPPROTO_TCP said out loud: asyncio turns Nagle's algorithm off only on sockets that name it, and
        # with it on, every answer on a kept-alive connection waits ~40 ms for the client's delayed ACK.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    except OSError as error:
        raise InputError(f"cannot listen on {host}:{port}: {error}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as error:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    return sock


def url_of(sock: socket.socket) -> str:
    """``http://host:port`` of a bound socket (an IPv6 host in brackets)."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _server(app):
    import uvicorn

    return uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                         timeout_graceful_shutdown=_GRACE))


def serve(app, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *, sock: socket.socket | None = None,
          ready: Callable[[str], None] | None = None) -> str | None:
    """Serve ``app`` until Ctrl-C or SIGTERM, then stop cleanly (requests in flight finish, the watcher and
    the batcher stop). ``sock``: a socket :func:`bind` made already, instead of ``host`` and ``port``.
    ``ready`` is called with the URL once the service answers. Returns the name of the signal that
    stopped it, if one did."""
    sock = sock if sock is not None else bind(host, port)
    server = _server(app)
    caught: list[int] = []
    # uvicorn handles SIGINT and SIGTERM while it serves, and raises them again once it has stopped:
    # these handlers take that second one, so a signal ends the service cleanly instead of killing it.
    previous = {number: signal.signal(number, lambda number, frame: caught.append(number))
                for number in (signal.SIGINT, signal.SIGTERM)}
    if ready is not None:
        threading.Thread(target=_announce, args=(server, url_of(sock), ready), daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        sock.close()
    return signal.Signals(caught[0]).name if caught else None


def _announce(server, url: str, ready: Callable[[str], None]) -> None:
    while not server.started and not server.should_exit:
        time.sleep(0.01)
    if server.started:
        ready(url)


@contextlib.contextmanager
def running(app, host: str = DEFAULT_HOST, port: int = 0, *, timeout: float = 30.0) -> Iterator[str]:
    """Serve ``app`` from a background thread for the ``with`` block; yields its URL (port 0: a free one)."""
    sock = bind(host, port)
    server = _server(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="textmetric-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError("the service did not start")
        time.sleep(0.01)
    try:
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()
