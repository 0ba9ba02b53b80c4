"""User-facing errors: one line that names the file, the line and the problem.

The CLI turns an :class:`InputError` into that line on stderr and exit code 2;
a Python caller catches it like any ``ValueError``.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
import sys
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class Range:
    """The finite numbers a float setting may take: from ``min`` to ``max`` (None: no bound), each end included
    unless ``min_open`` / ``max_open``. NaN and the infinities are never in a range: a learning rate of inf
    trains a model of NaN weights, and a NaN compares false with every bound.

    The library checks its settings with :meth:`check`; the CLI's options take the same ranges
    (``cli/options.finite``), so both refuse the same values.
    """

    min: float | None = None
    max: float | None = None
    min_open: bool = False
    max_open: bool = False

    def __str__(self) -> str:
        low = None if self.min is None else f"{'>' if self.min_open else '>='} {self.min:g}"
        high = None if self.max is None else f"{'<' if self.max_open else '<='} {self.max:g}"
        if low and high:
            return f"in {'(' if self.min_open else '['}{self.min:g}, {self.max:g}{')' if self.max_open else ']'}"
        return low or high or "of any size"

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not in the range, or None when it is."""
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return f"must be a number {self}, got {value!r}"
        value = float(value)
        inside = (math.isfinite(value)
                  and (self.min is None or (value > self.min if self.min_open else value >= self.min))
                  and (self.max is None or (value < self.max if self.max_open else value <= self.max)))
        return None if inside else f"must be a finite number {self}, got {value:g}"

    def check(self, name: str, value: Any, flag: str | None = None) -> Any:
        """``value``, or an :class:`InputError` naming the setting (:func:`option`) when it is not in the range."""
        problem = self.problem(value)
        if problem is not None:
            raise InputError(f"{option(name, flag)} {problem}")
        return value
