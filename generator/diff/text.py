"""Unified diffs of a file's own text: the bytes on the old side against the bytes a
render would write, so hunk headers give the files' real line numbers and the text
shows the file's own anchors, key order, quoting and comments (difflib, stdlib)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

NO_NEWLINE = "\\ No newline at end of file\n"
CONTEXT = 3


def lines_of(content: bytes) -> list[str]:
    """The text's lines with their endings; undecodable bytes as U+FFFD."""
    return content.decode("utf-8", errors="replace").splitlines(keepends=True)


def file_diff(old: bytes | None, new: bytes | None, path: str) -> str:
    """`--- a/path` / `+++ b/path` and hunks from old to new; None is a file that does not
    exist on that side (`/dev/null`, as git shows a created or removed file)."""
    return text_diff(
        lines_of(old or b""),
        lines_of(new or b""),
        path,
        created=old is None,
        removed=new is None,
    )


def text_diff(
    old: Sequence[str],
    new: Sequence[str],
    path: str,
    *,
    created: bool = False,
    removed: bool = False,
) -> str:
    """The unified diff of two line lists (each line with its ending); "" when equal.
    A last line without a newline is marked as git and patch(1) mark it."""
    lines = difflib.unified_diff(
        list(old),
        list(new),
        fromfile="/dev/null" if created else f"a/{path}",
        tofile="/dev/null" if removed else f"b/{path}",
        n=CONTEXT,
    )
    return "".join(line if line.endswith("\n") else f"{line}\n{NO_NEWLINE}" for line in lines)


def around_derived(old: Sequence[str], new: Sequence[str], probe: Sequence[str]) -> list[str]:
    """`new` with each run of lines that differs from `old` only where it derives from a
    secret value taken back from `old`: the lines on which the render and its probe (the
    same render with other placeholders, generator/diff/derived.py) differ hold
    placeholders, not what would be written, so they are not shown as changes."""
    derived: set[int] = set(range(len(new)))
    matcher = difflib.SequenceMatcher(None, list(new), list(probe), autojunk=False)
    for block in matcher.get_matching_blocks():
        derived -= set(range(block.a, block.a + block.size))
    shown: list[str] = []
    matcher = difflib.SequenceMatcher(None, list(old), list(new), autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal" and j2 > j1 and derived.issuperset(range(j1, j2)):
            shown += old[i1:i2]
        else:
            shown += new[j1:j2]
    return shown
