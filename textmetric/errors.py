"""User-facing errors: one line that names the file, the line and the problem.

The CLI turns an :class:`InputError` into that line on stderr and exit code 2;
a Python caller catches it like any ``ValueError``.
"""

from __future__ import annotations

import logging
import os

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
