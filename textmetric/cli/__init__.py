"""The ``textmetric`` command: click commands, one module per group, over the Python API.

``app`` holds the group and ``main`` (the console entry point); ``options`` and ``output``
what every command shares; ``evaluate``, ``index``, ``search``, ``serve``, ``train`` and ``demo`` the commands.
"""

from .app import cli, main
from .output import CLOSED_PIPE

__all__ = ["cli", "main", "CLOSED_PIPE"]
