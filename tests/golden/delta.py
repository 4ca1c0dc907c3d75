"""A golden scenario kept as its difference from reference renders, in one text file.

The base render (the sample's) is the starting point: a scenario's tree is the base tree
with some files changed, removed or added. A changed file is stored as a unified diff
against the base's file with no context lines, so a line both renders share is never
repeated here, and a chart bump that rewrites such a line rewrites only the base's
snapshot. A file the base lacks is diffed against the first other reference render that
has it (the all-features render) when that is shorter than the file, else stored whole.

    changed kubernetes/apps/network/kustomization.yaml
    @@ -5,0 +6,1 @@
    +  - ./bgp/ks.yaml
    added kubernetes/apps/kyverno/app/helmrelease.yaml from all-features
    @@ -12,1 +12,1 @@
    -      validationFailureAction: Audit
    +      validationFailureAction: Enforce
    added kubernetes/apps/network/bgp/ks.yaml
    @@ -0,0 +1,2 @@
    +---
    +apiVersion: kustomize.toolkit.fluxcd.io/v1
    removed talos/patches/global/machine-network.yaml

A record starts with a word at the start of a line; hunk lines start with `@`, `-`, `+`
or `\\` (`\\ No newline at end of file`, as in diff(1)); lines starting with `#` are
comments. Records start with a letter so that `git diff` of a delta names the file in each
hunk header (git's default: the last earlier line that starts with a letter).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

Tree = Mapping[str, bytes]

NO_NEWLINE = "\\ No newline at end of file"
_HUNK = re.compile(r"@@ -(\d+),(\d+) \+(\d+),(\d+) @@")
_RECORD = re.compile(r"(changed|added|removed) (\S+)(?: from (\S+))?")


class DeltaError(Exception):
    """A delta file that cannot be read, or a file that cannot be kept as text."""


@dataclass(frozen=True)
class Hunk:
    """Lines `old` of the reference, from index `start` (0-based), become lines `new`.

    Every line keeps its "\\n" except a file's last line when the file has none.
    """

    start: int
    old: tuple[str, ...]
    new: tuple[str, ...]


@dataclass(frozen=True)
class Entry:
    """One file of the scenario that is not the base's file unchanged.

    kind: "changed" (hunks against the base's file), "added" (hunks against the file of
    reference `source`, or against an empty file when `source` is None) or "removed".
    """

    kind: str
    path: str
    source: str | None = None
    hunks: tuple[Hunk, ...] = ()


@dataclass(frozen=True)
class Conflict:
    """A delta entry that does not fit the current reference renders."""

    path: str
    reason: str


def lines_of(content: bytes, path: str) -> list[str]:
    """`content` as lines that keep their "\\n"; DeltaError if it is not UTF-8 text."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DeltaError(f"{path}: golden deltas hold UTF-8 text only ({error})") from None
    *full, last = text.split("\n")
    return [line + "\n" for line in full] + ([last] if last else [])


def _hunks(old: Sequence[str], new: Sequence[str]) -> tuple[Hunk, ...]:
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    return tuple(
        Hunk(i1, tuple(old[i1:i2]), tuple(new[j1:j2]))
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
        if tag != "equal"
    )


def _size(hunks: Sequence[Hunk]) -> int:
    return sum(len(h.old) + len(h.new) for h in hunks)


def make(tree: Tree, base: Tree, others: Sequence[tuple[str, Tree]] = ()) -> list[Entry]:
    """The entries that turn `base` into `tree`; `others` are (name, tree) references
    whose files may stand in for files the base lacks."""
    entries: list[Entry] = []
    for path in sorted(base.keys() | tree.keys()):
        if path not in tree:
            entries.append(Entry("removed", path))
            continue
        new = lines_of(tree[path], path)
        if path in base:
            if base[path] != tree[path]:
                hunks = _hunks(lines_of(base[path], path), new)
                entries.append(Entry("changed", path, hunks=hunks))
            continue
        entry = Entry("added", path, hunks=_hunks([], new))
        source = next(((name, ref) for name, ref in others if path in ref), None)
        if source is not None:
            hunks = _hunks(lines_of(source[1][path], path), new)
            if _size(hunks) < _size(entry.hunks):
                entry = Entry("added", path, source[0], hunks)
        entries.append(entry)
    return entries


def dumps(entries: Sequence[Entry], header: str = "") -> str:
    """The delta file's text; `header` lines become `#` comments."""
    out = [f"# {line}".rstrip() + "\n" for line in header.splitlines()]
    for entry in entries:
        source = f" from {entry.source}" if entry.source else ""
        out.append(f"{entry.kind} {entry.path}{source}\n")
        for hunk in entry.hunks:
            out.append(_hunk_header(hunk))
            out += _hunk_lines("-", hunk.old)
            out += _hunk_lines("+", hunk.new)
    return "".join(out)


def _hunk_header(hunk: Hunk) -> str:
    # diff(1)'s convention: an empty range names the line before it.
    old = hunk.start + 1 if hunk.old else hunk.start
    new = hunk.start + 1 if hunk.new else hunk.start
    return f"@@ -{old},{len(hunk.old)} +{new},{len(hunk.new)} @@\n"


def _hunk_lines(sign: str, lines: Sequence[str]) -> Iterator[str]:
    for line in lines:
        yield sign + line
        if not line.endswith("\n"):
            yield f"\n{NO_NEWLINE}\n"


def loads(text: str, name: str = "delta") -> list[Entry]:
    """Entries of a delta file's text; DeltaError naming the line if it is malformed."""
    lines = lines_of(text.encode("utf-8"), name)
    entries: list[Entry] = []
    index = 0

    def fail(reason: str) -> DeltaError:
        return DeltaError(f"{name} line {index + 1}: {reason}")

    def take(sign: str, count: int) -> tuple[str, ...]:
        nonlocal index
        taken: list[str] = []
        for _ in range(count):
            if index >= len(lines) or not lines[index].startswith(sign):
                raise fail(f"expected a line starting with {sign!r}")
            line = lines[index][1:]
            index += 1
            if index < len(lines) and lines[index].rstrip("\n") == NO_NEWLINE:
                line = line.removesuffix("\n")
                index += 1
            taken.append(line)
        return tuple(taken)

    while index < len(lines):
        line = lines[index].rstrip("\n")
        if not line or line.startswith("#"):
            index += 1
            continue
        record = _RECORD.fullmatch(line)
        if record is None:
            raise fail(f"expected 'changed|added|removed <path>', got {line!r}")
        kind, path, source = record.groups()
        if source is not None and kind != "added":
            raise fail("only an added file names a reference ('from <name>')")
        index += 1
        hunks: list[Hunk] = []
        while index < len(lines) and lines[index].startswith("@@"):
            header = _HUNK.fullmatch(lines[index].rstrip("\n"))
            if header is None:
                raise fail(f"malformed hunk header {lines[index].rstrip()!r}")
            old_start, old_count, _, new_count = (int(n) for n in header.groups())
            index += 1
            old = take("-", old_count)
            new = take("+", new_count)
            hunks.append(Hunk(old_start - 1 if old_count else old_start, old, new))
        if kind == "removed" and hunks:
            raise fail("a removed file has no hunks")
        entries.append(Entry(kind, path, source, tuple(hunks)))
    return entries


def _patch(lines: Sequence[str], hunks: Sequence[Hunk]) -> list[str] | str:
    """`lines` with `hunks` applied, or why they do not apply."""
    out: list[str] = []
    position = 0
    for hunk in hunks:
        end = hunk.start + len(hunk.old)
        if hunk.start < position or end > len(lines):
            return f"hunk at line {hunk.start + 1} is beyond the reference's {len(lines)} lines"
        found = tuple(lines[hunk.start : end])
        if found != hunk.old:
            at = next(i for i, (a, b) in enumerate(zip(found, hunk.old, strict=True)) if a != b)
            return (
                f"line {hunk.start + at + 1} is now {found[at].rstrip()!r}, "
                f"the delta expects {hunk.old[at].rstrip()!r}"
            )
        out += lines[position : hunk.start]
        out += hunk.new
        position = end
    return out + list(lines[position:])


def apply(
    entries: Sequence[Entry], base: Tree, others: Mapping[str, Tree] | None = None
) -> tuple[dict[str, bytes], list[Conflict]]:
    """The tree the entries describe, and the entries that no longer fit the references
    (their files are left out of the tree)."""
    others = others or {}
    tree = dict(base)
    conflicts: list[Conflict] = []
    for entry in entries:
        path = entry.path
        reference: Sequence[str] = []
        if entry.kind == "removed":
            if tree.pop(path, None) is None:
                conflicts.append(Conflict(path, "removed, but the base render has no such file"))
            continue
        if entry.kind == "changed":
            if path not in base:
                conflicts.append(Conflict(path, "changed, but the base render has no such file"))
                continue
            reference = lines_of(base[path], path)
        elif path in base:
            conflicts.append(Conflict(path, "added, but the base render has this file now"))
            tree.pop(path)
            continue
        elif entry.source is not None:
            if path not in others.get(entry.source, {}):
                conflicts.append(Conflict(path, f"the {entry.source} render has no such file"))
                continue
            reference = lines_of(others[entry.source][path], path)
        patched = _patch(reference, entry.hunks)
        if isinstance(patched, str):
            conflicts.append(Conflict(path, patched))
            tree.pop(path, None)
        else:
            tree[path] = "".join(patched).encode("utf-8")
    return tree, conflicts
