"""Three-way merge of a hand-edited file with its new render, by `git merge-file`.

base: what clustergen last wrote (a copy under `.clustergen/base/`, see bases.py);
ours: the file on disk; theirs: the new render. Never called for secrets: their
plaintext never reaches a temporary file, and they are rendered from cluster.yaml.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path
from subprocess import CompletedProcess

from generator.command import run

# Longer than git's default 7, and than any run of marker characters a line of the three
# sides starts with (`_marker_size`), so a file's own `=======` lines never read as markers.
MARKER_SIZE = 15
_MARKER_RUN = re.compile(rb"^([<|=>])\1*", re.MULTILINE)
LABEL_OURS = "yours (on disk)"
LABEL_BASE = "as clustergen last wrote it"
LABEL_THEIRS = "new render"


@dataclass(frozen=True)
class Hunk:
    """One conflicting region: `line`/`end` are 1-based lines of the file on disk
    (end inclusive; end < line when your side deleted the lines); the three sides' lines."""

    line: int
    end: int
    ours: tuple[str, ...]
    base: tuple[str, ...]
    theirs: tuple[str, ...]

    def describe(self, path: str) -> list[str]:
        """`path:12-13:` and the three sides, indented, as configure prints them."""
        where = f"{self.line}" if self.end <= self.line else f"{self.line}-{self.end}"
        lines = [f"{path}:{where}: your edit and the new render change the same lines"]
        for label, side in (
            (LABEL_OURS, self.ours),
            (LABEL_BASE, self.base),
            (LABEL_THEIRS, self.theirs),
        ):
            lines.append(f"    --- {label}")
            lines += [f"    | {text}" for text in side] or ["    (no lines)"]
        return lines


@dataclass(frozen=True)
class Merge:
    """`merged`: the result of a clean merge, else None (`hunks` says where, unless `binary`)."""

    merged: bytes | None
    hunks: tuple[Hunk, ...]
    binary: bool = False  # git took a side for binary (a NUL byte): nothing to show by line

    @property
    def clean(self) -> bool:
        return self.merged is not None


def merge3(base: bytes, ours: bytes, theirs: bytes) -> Merge:
    """Merge the change from base to ours into theirs (`git merge-file -p --diff3`).

    A binary side (git refuses to merge it) is a conflict without hunks (`binary`).
    Raises CommandError when git is missing or fails otherwise.
    """
    size = _marker_size(base, ours, theirs)
    result = _merge_file(base, ours, theirs, "--diff3", f"--marker-size={size}")
    if result.returncode == 0:
        return Merge(result.stdout, ())
    if result.returncode >= 128 or not result.stdout:  # "Cannot merge binary files"
        return Merge(None, (), binary=True)
    return Merge(None, tuple(_hunks(result.stdout, ours, size)))


def merge_taking_theirs(base: bytes, ours: bytes, theirs: bytes) -> bytes | None:
    """The merge with each conflicting hunk resolved to the new render, your other edits
    kept (`git merge-file -p --theirs`); None when git cannot merge (a binary side)."""
    result = _merge_file(base, ours, theirs, "--theirs")
    return result.stdout if result.returncode == 0 else None


def _merge_file(base: bytes, ours: bytes, theirs: bytes, *options: str) -> CompletedProcess[bytes]:
    """`git merge-file -p` of the three sides (on temporary copies), any exit status."""
    with tempfile.TemporaryDirectory(prefix="clustergen-merge-") as tmp:
        names: list[str | Path] = []
        for name, data in (("ours", ours), ("base", base), ("theirs", theirs)):
            (Path(tmp) / name).write_bytes(data)
            names.append(Path(tmp) / name)
        labels = ["-L", LABEL_OURS, "-L", LABEL_BASE, "-L", LABEL_THEIRS]
        command: list[str | Path] = ["git", "merge-file", "-p", *options, *labels, *names]
        return run(command, ok_codes=range(0, 256))


def _marker_size(*sides: bytes) -> int:
    """MARKER_SIZE, or one more than the longest run of one marker character that starts a
    line of any side."""
    runs = (len(m.group(0)) for side in sides for m in _MARKER_RUN.finditer(side))
    return max(MARKER_SIZE, max(runs, default=0) + 1)


def _hunks(marked: bytes, ours: bytes, size: int) -> list[Hunk]:
    """The conflicts of git's marked output, placed on the lines of `ours`.

    The marked output with each conflict replaced by its own side differs from
    `ours` only where the new render's clean changes went in; aligning the two
    (difflib) maps each conflict to its line on disk, even among repeated lines.
    """
    view: list[str] = []  # the marked output, each conflict as its "ours" side
    found: list[tuple[int, dict[str, list[str]]]] = []  # (start in view, sides)
    side: list[str] | None = None
    sides: dict[str, list[str]] = {}
    markers = [c * size for c in "<|=>"]
    for text in marked.decode(errors="replace").splitlines():
        marker = text[:size]  # no line of a side starts with so long a run
        if marker == markers[0] and side is None:
            sides = {"ours": [], "base": [], "theirs": []}
            side = sides["ours"]
        elif side is not None and marker == markers[1]:
            side = sides["base"]
        elif side is not None and marker == markers[2] and text == markers[2]:
            side = sides["theirs"]
        elif side is not None and marker == markers[3]:
            found.append((len(view), sides))
            view += sides["ours"]
            side = None
        elif side is not None:
            side.append(text)
        else:
            view.append(text)
    mine = ours.decode(errors="replace").splitlines()
    opcodes = SequenceMatcher(None, view, mine, autojunk=False).get_opcodes()
    hunks = []
    for start, found_sides in found:
        line = _on_disk(start, opcodes)
        hunks.append(
            Hunk(
                line + 1,
                line + len(found_sides["ours"]),
                tuple(found_sides["ours"]),
                tuple(found_sides["base"]),
                tuple(found_sides["theirs"]),
            )
        )
    return hunks


def _on_disk(index: int, opcodes: Sequence[tuple[str, int, int, int, int]]) -> int:
    """The line of `ours` (0-based) that line `index` of the view stands for."""
    for tag, i1, i2, j1, _ in opcodes:
        if i1 <= index < i2:  # lines only on disk (the render deleted them) come before
            return j1 + (index - i1) if tag == "equal" else j1
    return opcodes[-1][4] if opcodes else 0  # after the last line
