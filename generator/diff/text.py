"""Unified diffs of a file's own text: the bytes on the old side against the bytes a
render would write, so hunk headers give the files' real line numbers and the text
shows the file's own anchors, key order, quoting and comments (difflib, stdlib)."""

from __future__ import annotations

import difflib
import re
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


def around_derived(
    old: Sequence[str], new: Sequence[str], probe: Sequence[str]
) -> tuple[list[str], list[str]]:
    """`old` and `new` with the values that derive from secrets masked on both sides.

    Without the age key every secret value renders as a placeholder: the lines on which
    the render and its probe (the same render with other placeholders,
    generator/diff/derived.py) differ hold placeholders, not what would be written, and
    the old side's line at that place holds the real derived value. Each such line is
    paired with the old line of the same key, and both show DERIVED instead of a value.
    Line counts stay as they are, so hunk headers keep the files' line numbers."""
    derived = set(range(len(new)))
    matcher = difflib.SequenceMatcher(None, list(new), list(probe), autojunk=False)
    for block in matcher.get_matching_blocks():
        derived -= set(range(block.a, block.a + block.size))
    shown_old, shown_new = list(old), list(new)
    matcher = difflib.SequenceMatcher(None, list(old), list(new), autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            pairs = list(zip(range(i1, i2), range(j1, j2), strict=True))
        else:
            pairs = _pair_by_key(old, new, i1, i2, j1, j2)
        for i, j in pairs:
            if j in derived:
                shown_old[i] = shown_new[j] = _masked(old[i])
        paired_old, paired_new = {i for i, _ in pairs}, {j for _, j in pairs}
        unpaired = [j for j in range(j1, j2) if j in derived and j not in paired_new]
        for j in unpaired:
            shown_new[j] = _masked(new[j])
        if tag != "equal" and derived.intersection(range(j1, j2)):
            # A derived list may have more items on disk than in the render (two secret
            # URLs on one port): the old side's leftovers of this run are masked as well.
            for i in set(range(i1, i2)) - paired_old:
                shown_old[i] = _masked(old[i])
    return shown_old, shown_new


DERIVED = "(derives from a secret value: not compared without the age key)"
_KEY = re.compile(r"\s*(?:- )*(?:[^\s:#][^:]*:(?:\s|$))?")


def _key(line: str) -> str:
    """The indentation, list dashes and mapping key of a YAML line: `    port: `."""
    match = _KEY.match(line)
    return match.group() if match else ""


def _masked(line: str) -> str:
    ending = line[len(line.rstrip("\r\n")) :]
    return f"{_key(line).rstrip()} {DERIVED}{ending or chr(10)}"


def _pair_by_key(
    old: Sequence[str], new: Sequence[str], i1: int, i2: int, j1: int, j2: int
) -> list[tuple[int, int]]:
    """Old and new lines of one changed run that hold the same key, in order."""
    matcher = difflib.SequenceMatcher(
        None, [_key(line) for line in old[i1:i2]], [_key(line) for line in new[j1:j2]], False
    )
    return [
        (i1 + block.a + k, j1 + block.b + k)
        for block in matcher.get_matching_blocks()
        for k in range(block.size)
    ]
