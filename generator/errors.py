"""Our exception types. Anything that is not a ClusterGenError is a bug.

The CLI catches ClusterGenError once and prints `str(err)`; every message is
written for the user: what is wrong, where, and what to do about it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class ClusterGenError(Exception):
    """A problem the user can fix. Exit code 1."""


@dataclass(frozen=True)
class Problem:
    """One finding about an input file, printed as `file:line:col key: message`."""

    key: str
    message: str
    file: str = "cluster.yaml"
    line: int | None = None
    col: int | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.col is not None:
                where += f":{self.col}"
        return f"{where} {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ProblemsError(ClusterGenError):
    """Several findings reported at once (config errors, output validation)."""

    headline = "found {n} problem(s)"

    def __init__(self, problems: Sequence[Problem | str]) -> None:
        self.problems = list(problems)
        super().__init__(self._format())

    def _format(self) -> str:
        lines = [str(p) for p in self.problems]
        lines.append(self.headline.format(n=len(self.problems)))
        return "\n".join(lines)


class ConfigError(ProblemsError):
    headline = "{n} error(s) in the configuration; fix them and run again"


class SideFileError(ClusterGenError):
    """A key or credentials file next to cluster.yaml is missing or unusable."""


class SecretsError(ClusterGenError):
    """sops or an age key failed; nothing was written."""


class CommandError(ClusterGenError):
    """An external program failed or is missing."""


class CommandInterrupted(CommandError):
    """An external program was stopped by SIGINT or SIGTERM (a Ctrl-C reaches the whole
    process group): what it was doing did not fail, it was cut short."""


class WriteConflict(ClusterGenError):
    """Generated files were edited by hand since the last configure."""


class ValidationFailed(ProblemsError):
    headline = "{n} problem(s) in the rendered tree"


def shown(value: Any) -> str:
    """A value as YAML would show it (`"soon"`, `1.5`, `true`, `null`, `[a, b]` as JSON's
    flow style), for messages: never Python's repr (`'soon'`, `True`, `None`)."""
    return json.dumps(value, ensure_ascii=False, default=str)


def not_utf8(file: str, raw: bytes, err: UnicodeDecodeError) -> Problem:
    """The Problem for `raw` (the bytes of `file`) that `err` failed to decode: the line and
    column of the first bad byte, and the fix."""
    line = raw[: err.start].count(b"\n") + 1
    col = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
    return Problem(
        "",
        f"is not UTF-8 text (byte 0x{raw[err.start]:02x}); save the file as UTF-8",
        file,
        line,
        col,
    )
