"""TreeDiff for people (unified, summary) and for tools (stable JSON).

`unified` groups the files by component (generator/diff/components.py) and shows each
file's own text as a unified diff with the file's line numbers; secret files show the
names of the keys that changed, never values or ciphertext.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from generator.diff.color import Style, paint
from generator.diff.components import by_component
from generator.diff.trees import Conflicting, FileChange, ObjectChange, TakenOver, TreeDiff

# Said once under the conflicts, as configure says it when it refuses.
CHOOSE = (
    "configure writes nothing while a file conflicts; choose for each: "
    "--keep-mine PATH, --take-theirs PATH, or an override (README: Hand edits)"
)
KEPT = "edited by you, no longer generated; configure keeps it"


def _object_label(obj: ObjectChange) -> str:
    if not obj.kind:
        return obj.name
    return f"{obj.kind} {obj.namespace}/{obj.name}" if obj.namespace else f"{obj.kind} {obj.name}"


def _counts(diff: TreeDiff) -> str:
    text = f"{len(diff.added)} added, {len(diff.changed)} changed, {len(diff.removed)} removed"
    if diff.reformatted:
        text += f", {len(diff.reformatted)} reformatted"
    if diff.conflicts:
        text += f", {len(diff.conflicts)} in conflict"
    if diff.not_compared:
        text += f", {len(diff.not_compared)} not compared"
    if diff.kept:
        text += f", {len(diff.kept)} kept"
    if diff.taken_over:
        text += f", {len(diff.taken_over)} taken over by you (differ from the render; not drift)"
    shown = diff.not_compared or diff.reformatted or diff.kept or diff.taken_over
    return text if diff.differs or shown else "no differences"


def _taken_over_note(taken: TakenOver) -> str:
    since = "; the render changed since you took it over" if taken.render_changed else ""
    return f"differs from its render{since}"


def _conflict_lines(conflict: Conflicting) -> list[str]:
    return [f"conflict: {conflict.path}: {conflict.reason}", *(f"  {x}" for x in conflict.lines)]


def _reencrypted(diff: TreeDiff) -> list[str]:
    count = len(diff.reencrypted)
    if not count:
        return []
    files = "file" if count == 1 else "files"
    return [
        f"{count} secret {files} re-encrypted (values unchanged, "
        "now for the recipients in .sops.yaml)"
    ]


def _secret_keys(obj: ObjectChange) -> str:
    parts = [
        f"{what}: {', '.join(names)}"
        for what, names in (
            ("keys changed", obj.secret_keys_changed),
            ("added", obj.secret_keys_added),
            ("removed", obj.secret_keys_removed),
        )
        if names
    ]
    return f"; {'; '.join(parts)}" if parts else ""


def _secret_lines(change: FileChange, state: str) -> list[str]:
    """One line per object of a secret file: its key names, never values."""
    if not change.objects:
        hidden = "contents not shown" if state == "removed" else "values not shown"
        return [f"secret {change.path} {state} ({hidden})"]
    if state == "created":
        return [
            f"secret {change.path} created: {_object_label(o)}; "
            f"keys: {', '.join(o.secret_keys_added) or 'none'} (values not shown)"
            for o in change.objects
        ]
    return [
        f"secret {change.path} {_object_label(o)} {o.change}{_secret_keys(o)} (values not shown)"
        for o in change.objects
    ]


def format_summary(diff: TreeDiff, color: bool = False) -> str:
    lines = [f"+ {p}" for p in diff.added]
    for change in diff.changed:
        names = ", ".join(_object_label(o) for o in change.objects)
        lines.append(f"~ {change.path}" + (f" ({names})" if names else ""))
    lines += [f"- {p}" for p in diff.removed]
    lines += [f"! {c.path} (conflict: {c.reason})" for c in diff.conflicts]
    lines += [f"~ {c.path} (comments or formatting only)" for c in diff.reformatted]
    lines += [f"= {p} ({KEPT})" for p in diff.kept]
    lines += [
        f"= {t.change.path} (taken over by you: {_taken_over_note(t)})" for t in diff.taken_over
    ]
    lines += _reencrypted(diff)
    lines += [f"? {p} (not compared: {why})" for p, why in diff.not_compared]
    lines.append(_counts(diff))
    return "\n".join(lines)


_LINE_STYLES: dict[str, Style] = {"@": "cyan", "-": "red", "+": "green", "\\": "dim"}
_STATE_STYLES: dict[str, Style] = {"created": "green", "removed": "red"}


def _diff_lines(text: str, color: bool) -> list[str]:
    """A file's unified diff, coloured line by line: headers, hunks, removed, added."""
    lines = text.splitlines(keepends=True)
    painted = [paint(line, "bold", color) for line in lines[:2]]
    for line in lines[2:]:
        style = _LINE_STYLES.get(line[:1], "")
        painted.append(paint(line, style, color))
    return painted


def _file_lines(change: FileChange, state: str, color: bool) -> list[str]:
    if change.secret:
        return [paint(f"{line}\n", "yellow", color) for line in _secret_lines(change, state)]
    # Which Kubernetes objects changed; a plain document (talconfig, .sops.yaml) is the file.
    whole = state != "changed"  # a created or removed file: its objects went with it
    names = ", ".join(
        _object_label(o) for o in change.objects if o.kind and (whole or o.change == "changed")
    )
    more = [
        f"{_object_label(o)} {o.change}"
        for o in change.objects
        if not whole and o.change != "changed"
    ]
    what = ", ".join(filter(None, [names, *more]))
    style = _STATE_STYLES.get(state, "yellow")
    if state == "reformatted":
        what = "comments or formatting only: no object changed"
    head = [paint(f"{state}: {change.path}" + (f" ({what})" if what else "") + "\n", style, color)]
    if change.note:
        head.append(paint(f"note: {change.note}\n", "dim", color))
    return head + _diff_lines(change.text_diff, color)


def format_unified(diff: TreeDiff, color: bool = False) -> str:
    files: dict[str, tuple[FileChange, str]] = {}
    files |= {c.path: (c, "created") for c in diff.added_files}
    files |= {c.path: (c, "removed") for c in diff.removed_files}
    files |= {c.path: (c, "changed") for c in diff.changed}
    files |= {c.path: (c, "reformatted") for c in diff.reformatted}
    files |= {p: (FileChange(p), "created") for p in diff.added if p not in files}
    files |= {p: (FileChange(p), "removed") for p in diff.removed if p not in files}
    parts: list[str] = []
    for component, paths in by_component(files).items():
        parts.append(paint(f"== {component} ==\n", "bold", color))
        for path in paths:
            parts += _file_lines(*files[path], color)
        parts.append("\n")
    for conflict in diff.conflicts:
        parts += [paint(f"{line}\n", "red", color) for line in _conflict_lines(conflict)]
    if diff.conflicts:
        parts += [paint(f"{CHOOSE}\n", "red", color), "\n"]
    parts += [paint(f"kept: {p} ({KEPT})\n", "dim", color) for p in diff.kept]
    for taken in diff.taken_over:
        head = f"taken over by you: {taken.change.path} ({_taken_over_note(taken)})\n"
        parts.append(paint(head, "yellow", color))
        parts += _diff_lines(taken.change.text_diff, color)
    if diff.taken_over:
        parts.append(
            "configure leaves the files you took over as they are; "
            "`configure --take-theirs PATH` hands one back\n"
        )
    parts += [paint(f"{line}\n", "yellow", color) for line in _reencrypted(diff)]
    parts += [paint(f"not compared: {p} ({why})\n", "dim", color) for p, why in diff.not_compared]
    parts.append(_counts(diff))
    return "".join(parts)


def as_json(diff: TreeDiff) -> dict[str, Any]:
    return {
        "added": list(diff.added),
        "removed": list(diff.removed),
        "changed": [
            {
                "path": change.path,
                "objects": [
                    {
                        "kind": o.kind,
                        "namespace": o.namespace,
                        "name": o.name,
                        "change": o.change,
                        "secret_keys_changed": list(o.secret_keys_changed),
                        "secret_keys_added": list(o.secret_keys_added),
                        "secret_keys_removed": list(o.secret_keys_removed),
                    }
                    for o in change.objects
                ],
            }
            for change in diff.changed
        ],
        "not_compared": [{"path": p, "reason": why} for p, why in diff.not_compared],
        "reencrypted": list(diff.reencrypted),
        "reformatted": [c.path for c in diff.reformatted],
        "conflicts": [
            {"path": c.path, "reason": c.reason, "hunks": list(c.lines)} for c in diff.conflicts
        ],
        "kept": list(diff.kept),
        "taken_over": [
            {"path": t.change.path, "render_changed": t.render_changed} for t in diff.taken_over
        ],
    }


def format_json(diff: TreeDiff, color: bool = False) -> str:
    return json.dumps(as_json(diff), indent=2, sort_keys=True)


Format = Callable[[TreeDiff, bool], str]
FORMATS: dict[str, Format] = {
    "unified": format_unified,
    "summary": format_summary,
    "json": format_json,
}
