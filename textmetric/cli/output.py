"""What every command does with its streams: warnings and chatter on stderr, the report on stdout, and a
reader of stdout gone away (``| head``) ending the command quietly."""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import NoReturn

import click

from ..evaluation.formatting import to_json

_WARNING_FORMAT = "textmetric: %(levelname)s: %(message)s"


class _LowerLevel(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        record.levelname = record.levelname.lower()
        return super().format(record)


def _setup(quiet: bool) -> bool:
    """Route textmetric's warnings to stderr (silenced by ``--quiet``); return whether to show progress bars."""
    from ..encoding import show_progress

    logger = logging.getLogger("textmetric")
    logger.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LowerLevel(_WARNING_FORMAT))
    logger.addHandler(handler)
    logger.setLevel(logging.ERROR if quiet else logging.INFO)
    logger.propagate = False
    return show_progress(quiet)


def _say(message: str, quiet: bool) -> None:
    """Chatter about what is happening goes to stderr, and nowhere with ``--quiet``."""
    if not quiet:
        click.echo(message, err=True)


def _report(as_json: bool, quiet: bool, record: dict, summary: str) -> None:
    """What a command did: ``record`` as one JSON object on stdout with --json, else ``summary`` on stderr."""
    if as_json:
        click.echo(to_json(record))
    else:
        _say(summary, quiet)


def _seconds(start: float) -> float:
    return round(time.perf_counter() - start, 3)


CLOSED_PIPE = 128 + 13  # the shell's status for a process killed by SIGPIPE


def _closed_pipe() -> NoReturn:
    """The reader of stdout went away (``| head``): stop quietly, as a tool killed by SIGPIPE does."""
    try:  # Python's last flush of stdout at exit must not fail a second time
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    sys.exit(CLOSED_PIPE)

