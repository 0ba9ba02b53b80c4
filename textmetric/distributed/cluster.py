"""A Ray cluster for the length of one job: the one at an address, or a local one started for it and stopped after.

An address that does not answer is a one-line :class:`~textmetric.errors.InputError` within seconds,
not Ray's own minute of retries.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
from typing import Iterator

from ..errors import InputError

__all__ = ["ray_session", "check_address", "check_reachable", "CONNECT_TIMEOUT", "LOCAL_CLUSTER", "unwrap_input_error"]

LOCAL_CLUSTER = "local"  # the address that asks for a cluster started on this machine for the job

CONNECT_TIMEOUT = 3.0  # seconds a cluster's address has to accept a connection
DEFAULT_PORTS = {"ray": 10001, "": 6379}  # Ray Client's port, the GCS's
_GCS_WAIT = "RAY_gcs_server_port_wait_time_s"  # Ray's connection attempts (about one a second)


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Refuse an address (``host:port`` or ``ray://host:port``) that does not accept a TCP connection."""
    scheme, _, rest = address.rpartition("://")
    host, _, port = rest.rpartition(":")
    if not host:
        host, port = rest, str(DEFAULT_PORTS.get(scheme, 6379))
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except (OSError, ValueError) as e:
        reason = getattr(e, "strerror", None) or str(e) or type(e).__name__
        raise InputError(f"cannot reach the Ray cluster at '{address}': {reason}") from None


def check_address(address: str | None) -> None:
    """Refuse at once a cluster address that does not accept a connection (none, ``local`` and ``auto`` pass)."""
    if address not in (None, LOCAL_CLUSTER, "auto"):
        check_reachable(address)


@contextlib.contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None) -> Iterator[None]:
    """Ray connected for the block: to ``address`` (``"auto"``: the cluster already running on this machine), or
    with no address (or ``"local"``) to this process's Ray if it is already up, else to a local cluster started
    here and stopped after."""
    import ray
    import ray.data

    address = None if address == LOCAL_CLUSTER else address
    check_address(address)
    started = not ray.is_initialized()
    if started:
        _init(ray, address, num_cpus)
    context = ray.data.DataContext.get_current()
    data_log = logging.getLogger("ray.data")
    bars, level = context.enable_progress_bars, data_log.level
    context.enable_progress_bars = False  # textmetric reports the job; Ray Data's per-operator chatter is noise
    data_log.setLevel(logging.CRITICAL)  # a task's error comes back as an exception, reported in one line
    try:
        yield
    finally:
        context.enable_progress_bars = bars
        data_log.setLevel(level)
        if started:
            ray.shutdown()


def _init(ray, address: str | None, num_cpus: int | None) -> None:
    """``ray.init``; connecting to an address that is not a Ray cluster fails within seconds, as one line."""
    wait = os.environ.get(_GCS_WAIT)
    if address is not None and wait is None:
        os.environ[_GCS_WAIT] = str(int(CONNECT_TIMEOUT))  # Ray's own default retries for ~20 s
    try:
        ray.init(address=address, num_cpus=num_cpus if address is None else None, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError) as e:
        if address is None:
            raise
        raise InputError(f"cannot connect to a Ray cluster at '{address}': {str(e).splitlines()[0]}") from None
    finally:
        if wait is None:
            os.environ.pop(_GCS_WAIT, None)


def unwrap_input_error(error: BaseException) -> InputError | None:
    """The :class:`InputError` a Ray task raised, found in the exceptions Ray wrapped it in (None if none)."""
    seen: set[int] = set()
    stack = [error]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        cause = getattr(e, "cause", None)  # a RayTaskError(InputError) holds the original here
        if isinstance(e, InputError) and cause is None:
            return e
        stack += [e.__context__, e.__cause__, cause]
    # Ray Data passes on a task's error as text: the traceback ends in the original's one line
    found = re.search(r"^textmetric\.errors\.InputError: (.+)$", str(error), flags=re.MULTILINE)
    return None if found is None else InputError(found.group(1))
