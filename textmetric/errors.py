"""User-facing errors: one line that names the file, the line and the problem.

The CLI turns an :class:`InputError` into that line on stderr and exit code 2;
a Python caller catches it like any ``ValueError``.
"""

from __future__ import annotations

import logging
import os
import sys

logger = logging.getLogger("textmetric")


class InputError(ValueError):
    """Bad input from the user: a file, a value or an option that cannot be used."""

    def __init__(self, problem: str, path: str | os.PathLike | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.problem = problem
        self.path = None if path is None else os.fspath(path)
        self.line = line
        self.field = field
        where = ""
        if self.path is not None:
            where = self.path if line is None else f"{self.path}:{line}"
            where += ": "
        what = f"field '{field}': " if field else ""
        super().__init__(f"{where}{what}{problem}")


def warn(message: str) -> None:
    """Report something suspicious but usable (shown by the CLI unless ``--quiet``)."""
    logger.warning(message)


CLI_MARK = "textmetric.cli"
"""Set in the click context's ``meta`` by the ``textmetric`` command: see :func:`on_command_line`."""


def on_command_line() -> bool:
    """Whether the ``textmetric`` command is running (messages then name its flags, not the API's parameters)."""
    click = sys.modules.get("click")
    context = click.get_current_context(silent=True) if click is not None else None
    return context is not None and bool(context.meta.get(CLI_MARK))


def option(name: str, flag: str | None = None, value: str | None = None) -> str:
    """A setting as the user spells it: on the command line its flag (``--name-like-this`` unless ``flag``
    says otherwise), in Python the parameter ``name`` (``name=value`` when a ``value`` is given)."""
    if on_command_line():
        return flag or "--" + name.replace("_", "-")
    return name if value is None else f"{name}={value}"
