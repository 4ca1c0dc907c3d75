"""TreeDiff for people (unified, summary) and for tools (stable JSON)."""

from __future__ import annotations

import json
from typing import Any

from generator.diff.trees import FileChange, ObjectChange, TreeDiff


def _object_label(obj: ObjectChange) -> str:
    if not obj.kind:
        return obj.name
    return f"{obj.kind} {obj.namespace}/{obj.name}" if obj.namespace else f"{obj.kind} {obj.name}"


def _counts(diff: TreeDiff) -> str:
    text = f"{len(diff.added)} added, {len(diff.changed)} changed, {len(diff.removed)} removed"
    if diff.not_compared:
        text += f", {len(diff.not_compared)} not compared"
    return text if diff.differs or diff.not_compared else "no differences"


def _secret_line(change: FileChange, obj: ObjectChange | None) -> str:
    what = f" {_object_label(obj)}" if obj else ""
    state = obj.change if obj else "changed"
    names = obj.secret_keys_changed if obj else ()
    keys = f"; keys: {', '.join(names)}" if names else ""
    return f"secret {change.path}{what} {state}{keys} (values not shown)"


def format_summary(diff: TreeDiff) -> str:
    lines = [f"+ {p}" for p in diff.added]
    for change in diff.changed:
        names = ", ".join(_object_label(o) for o in change.objects)
        lines.append(f"~ {change.path}" + (f" ({names})" if names else ""))
    lines += [f"- {p}" for p in diff.removed]
    lines += [f"? {p} (not compared: {why})" for p, why in diff.not_compared]
    lines.append(_counts(diff))
    return "\n".join(lines)


def format_unified(diff: TreeDiff) -> str:
    parts = [f"added: {p}\n" for p in diff.added]
    parts += [f"removed: {p}\n" for p in diff.removed]
    for change in diff.changed:
        if change.secret:
            objects = change.objects or (None,)
            parts += [_secret_line(change, o) + "\n" for o in objects]
        elif change.text_diff:
            parts.append(change.text_diff)
        else:
            parts += [o.diff for o in change.objects]
    parts += [f"not compared: {p} ({why})\n" for p, why in diff.not_compared]
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
                    }
                    for o in change.objects
                ],
            }
            for change in diff.changed
        ],
        "not_compared": [{"path": p, "reason": why} for p, why in diff.not_compared],
    }


def format_json(diff: TreeDiff) -> str:
    return json.dumps(as_json(diff), indent=2, sort_keys=True)


FORMATS = {"unified": format_unified, "summary": format_summary, "json": format_json}
