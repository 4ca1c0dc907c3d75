"""The `spec.patches` a Flux Kustomization applies to the Kustomizations it creates.

Custom resources get JSON merge-patch semantics from a strategic-merge patch
(maps merge, lists are replaced); JSON6902 `add`/`replace`/`remove` work too.
Only what changes a child Kustomization's behaviour matters here.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

import yaml

from generator.validate.documents import Doc


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _json6902(target: dict[str, Any], ops: list[Any]) -> dict[str, Any]:
    result = copy.deepcopy(target)
    for op in ops:
        if not isinstance(op, dict) or not isinstance(op.get("path"), str):
            continue
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        if not parts:
            continue
        node: Any = result
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        last = parts[-1]
        if op.get("op") in ("add", "replace"):
            if isinstance(node, list):
                index = len(node) if last == "-" else int(last)
                if op["op"] == "add":
                    node.insert(index, op.get("value"))
                else:
                    node[index] = op.get("value")
            else:
                node[last] = op.get("value")
        elif op.get("op") == "remove" and isinstance(node, dict):
            node.pop(last, None)
    return result


def _matches(target: Mapping[str, Any], child: Doc, namespace: str | None) -> bool:
    for key, actual in (("kind", child.kind), ("name", child.name), ("namespace", namespace)):
        wanted = target.get(key)
        if wanted and not re.fullmatch(str(wanted), actual or ""):
            return False
    group = target.get("group")
    if group and group != child.group:
        return False
    selector = target.get("labelSelector")
    if isinstance(selector, str) and "=" in selector:
        labels = child.get("metadata", "labels") or {}
        for term in selector.split(","):
            key, _, value = term.partition("=")
            if str(labels.get(key.strip().rstrip("!"))) != value.strip():
                return False
    return True


def apply_parent_patches(parent: Doc, child: Doc, namespace: str | None) -> dict[str, Any]:
    """The child's object after the parent Kustomization's patches that target it."""
    data: dict[str, Any] = child.data
    for entry in parent.get("spec", "patches") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("patch"), str):
            continue
        target = entry.get("target") or {}
        if not isinstance(target, dict) or not _matches(target, child, namespace):
            continue
        try:
            patch = yaml.safe_load(entry["patch"])
        except yaml.YAMLError:
            continue
        if isinstance(patch, list):
            data = _json6902(data, patch)
        elif isinstance(patch, dict):
            if not target and (patch.get("kind") != child.kind or _name_differs(patch, child)):
                continue
            body = {k: v for k, v in patch.items() if k not in ("apiVersion", "kind", "metadata")}
            data = merge_patch(data, body)
    return data


def _name_differs(patch: dict[str, Any], child: Doc) -> bool:
    meta = patch.get("metadata")
    return isinstance(meta, dict) and bool(meta.get("name")) and meta.get("name") != child.name
