"""What a command hands back to the CLI: the text to print and the exit status.

Commands never print and never choose exit codes themselves; generator/cli.py does both,
so the same command is usable (and testable) as a function.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Report:
    """`text`: printed to stdout as is (a final newline added when missing; "" prints
    nothing). `status`: the exit code, 0 ok or 1 when the command found problems."""

    text: str
    status: int = 0

    @classmethod
    def of(cls, lines: Iterable[str], status: int = 0) -> Report:
        return cls("\n".join(lines), status)
