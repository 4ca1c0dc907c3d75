"""Control characters in config values: found and named, never stripped, never echoed raw.

A value like "k8s-0\\n" (a `|` block scalar, or "\\n" in double quotes) would be
rendered as is; an escape sequence echoed in an error would drive the terminal.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator
from typing import Any

# As in config.locate (which imports this module).
KeyPath = tuple[str | int, ...]
Finding = tuple[KeyPath, str]

_NAMES = {"\n": "a line break", "\r": "a carriage return", "\t": "a tab"}
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def is_control(char: str) -> bool:
    """Unicode category Cc (C0 and C1 controls, DEL) or Cs (a lone surrogate)."""
    return unicodedata.category(char) in ("Cc", "Cs")


def printable(text: str) -> str:
    """`text` with control characters written as escapes (\\n, \\x1b, \\u0085)."""
    if text.isprintable():
        return text
    return "".join(_escape(c) if is_control(c) else c for c in text)


def _escape(char: str) -> str:
    code = ord(char)
    return _ESCAPES.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def control_characters(
    data: Any, multiline: Callable[[KeyPath], bool], path: KeyPath = ()
) -> Iterator[Finding]:
    """A finding for every key or text value holding a control character; values at
    paths where `multiline(path)` may hold line breaks (and only those)."""
    if isinstance(data, dict):
        for key, value in data.items():
            child = (*path, key)
            if isinstance(key, str) and any(is_control(c) for c in key):
                yield child, f"the key holds {_what(key)}; remove it"
                continue
            yield from control_characters(value, multiline, child)
    elif isinstance(data, list):
        for index, item in enumerate(data):
            yield from control_characters(item, multiline, (*path, index))
    elif isinstance(data, str):
        allowed = "\n" if multiline(path) else ""
        bad = [c for c in data if c not in allowed and is_control(c)]
        if not bad:
            return
        if allowed:
            yield path, f"holds {_what(bad[0])}; only line breaks (\\n) are allowed in it"
        else:
            yield (
                path,
                (
                    f"holds {_what(bad[0])}; it must be one line of text without control "
                    "characters (a `|` block keeps its final line break: write the value plainly)"
                ),
            )


def _what(text: str) -> str:
    char = next(c for c in text if is_control(c))
    name = _NAMES.get(char)
    code = f"U+{ord(char):04X}"
    return f"{name} ({code})" if name else f"a control character ({code})"
