"""Colour for a terminal only: ANSI SGR codes when the stream is a TTY and NO_COLOR is not
set (https://no-color.org: any non-empty value turns colour off), plain text otherwise."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, Protocol

Style = Literal["", "bold", "red", "green", "yellow", "cyan", "dim"]
_CODES: dict[Style, str] = {
    "": "",
    "bold": "1",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "cyan": "36",
    "dim": "2",
}


class _Stream(Protocol):
    def isatty(self) -> bool: ...


def wanted(stream: _Stream, environ: Mapping[str, str]) -> bool:
    """Colour for `stream`: a TTY, NO_COLOR unset or empty, and a terminal that is not dumb."""
    return stream.isatty() and not environ.get("NO_COLOR") and environ.get("TERM") != "dumb"


def paint(text: str, style: Style, color: bool) -> str:
    """`text` in `style` when `color`, else unchanged; the line ending stays outside."""
    if not color or not style:
        return text
    body = text.rstrip("\n")
    return f"\x1b[{_CODES[style]}m{body}\x1b[0m{text[len(body) :]}"
