"""A hit's text cut for display: what ``textmetric search --snippet`` prints and the service's ``snippet`` returns."""

from __future__ import annotations

__all__ = ["snippet"]


def snippet(text: str, length: int) -> str:
    """``text`` on one line, cut to at most ``length`` characters (at a word where it can, then "...")."""
    text = " ".join(text.split())
    if len(text) <= length:
        return text
    cut = text[:length - 3]
    if " " in cut[length // 2:]:
        cut = cut[:cut.rindex(" ")]
    return cut.rstrip() + "..."
