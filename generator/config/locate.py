"""Key paths and where they sit in the user's files, so every finding names file:line:col."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from generator.config.text import printable
from generator.errors import Problem
from generator.paths import SECRETS_CONFIG_NAME

KeyPath = tuple[str | int, ...]
Position = tuple[int, int]


def format_path(path: Iterable[str | int]) -> str:
    """("nodes", 0, "address") -> "nodes[0].address"."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{printable(part)}" if out else printable(part)
    return out


def all_paths(data: Any, prefix: KeyPath = ()) -> Iterable[tuple[KeyPath, bool]]:
    """Every path inside nested dicts/lists, with True for leaves."""
    if isinstance(data, Mapping):
        children: Iterable[tuple[str | int, Any]] = data.items()
    elif isinstance(data, list):
        children = enumerate(data)
    else:
        yield prefix, True
        return
    if prefix:
        yield prefix, False
    for key, value in children:
        yield from all_paths(value, (*prefix, key))


@dataclass(frozen=True)
class Locator:
    """Turns (key path, message) into a Problem pointing at the right file and line.

    Keys that came from the decrypted secrets overlay are reported against the secrets
    file, at their line in the encrypted file when `overlay_positions` has it. A missing
    key is reported at its nearest parent that exists in cluster.yaml.
    """

    file: str
    positions: Mapping[KeyPath, Position]
    overlay_leaves: frozenset[KeyPath] = field(default_factory=frozenset)
    overlay_inner: frozenset[KeyPath] = field(default_factory=frozenset)
    overlay_file: str = SECRETS_CONFIG_NAME
    overlay_positions: Mapping[KeyPath, Position] = field(default_factory=dict)

    def problem(self, path: KeyPath, message: str) -> Problem:
        key = format_path(path)
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            if prefix in self.overlay_leaves:
                return self._in_overlay(prefix, key, message)
            if prefix == () and path:
                # A missing top-level key: its parent is the file, whose mapping starts at
                # the first key (below the comments), a line about something else.
                return Problem(key=key, message=message, file=self.file, line=1, col=1)
            if prefix in self.positions:
                line, col = self.positions[prefix]
                return Problem(key=key, message=message, file=self.file, line=line, col=col)
            if prefix in self.overlay_inner:
                return self._in_overlay(prefix, key, message)
        return Problem(key=key, message=message, file=self.file)

    def _in_overlay(self, prefix: KeyPath, key: str, message: str) -> Problem:
        position = self.overlay_positions.get(prefix)
        if position is None:
            return Problem(key=key, message=message, file=self.overlay_file)
        line, col = position
        return Problem(key=key, message=message, file=self.overlay_file, line=line, col=col)


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    unique = dict.fromkeys(problems)
    return sorted(unique, key=lambda p: (p.file, p.line or 0, p.col or 0, p.key))
