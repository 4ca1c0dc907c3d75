"""The `spec.patches` a Flux Kustomization applies to the Kustomizations it creates.

Custom resources get JSON merge-patch semantics from a strategic-merge patch
(maps merge, lists are replaced); JSON6902 `add`/`replace`/`remove` work too.
Only what changes a child Kustomization's behaviour matters here.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Mapping
from typing import Any

import yaml

from generator import bounded_yaml
from generator.validate.documents import Doc
from generator.validate.selectors import selector_matches


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
    """Whether kustomize's patch `target` selects the child; ValueError for a bad selector."""
    for key, actual in (("kind", child.kind), ("name", child.name), ("namespace", namespace)):
        wanted = target.get(key)
        if wanted and not re.fullmatch(str(wanted), actual or ""):
            return False
    group, _, version = child.api_version.rpartition("/")
    for key, actual in (("group", group), ("version", version)):
        wanted = target.get(key)
        if wanted and wanted != actual:
            return False
    for key, section in (("labelSelector", "labels"), ("annotationSelector", "annotations")):
        selector = target.get(key)
        if isinstance(selector, str) and selector.strip():
            values = child.get("metadata", section)
            if not selector_matches(selector, values if isinstance(values, dict) else {}):
                return False
    return True


def apply_parent_patches(
    parent: Doc, child: Doc, namespace: str | None
) -> tuple[dict[str, Any], list[str]]:
    """The child's object after the parent Kustomization's patches that target it, and
    the problems with those patches (kustomize-controller would fail the build)."""
    data: dict[str, Any] = child.data
    problems: list[str] = []
    for i, entry in enumerate(parent.get("spec", "patches") or []):
        if not isinstance(entry, dict) or not isinstance(entry.get("patch"), str):
            continue
        target = entry.get("target") or {}
        try:
            if not isinstance(target, dict) or not _matches(target, child, namespace):
                continue
        except ValueError as err:
            problems.append(f"spec.patches[{i}].target: {err}")
            continue
        try:
            patch = _parsed(entry["patch"])
        except yaml.YAMLError:
            continue
        if isinstance(patch, list):
            # Its values go into the result as they are: a copy, not the cached patch.
            data = _json6902(data, copy.deepcopy(patch))
        elif isinstance(patch, dict):
            if not target and (patch.get("kind") != child.kind or _name_differs(patch, child)):
                continue
            body = {k: v for k, v in patch.items() if k not in ("apiVersion", "kind", "metadata")}
            data = merge_patch(data, body)
    return data, problems


@functools.lru_cache(maxsize=256)
def _parsed(patch: str) -> Any:
    # A parent's patches are read for each child Kustomization: once is enough.
    # merge_patch builds new values from a patch and never changes it.
    return bounded_yaml.load(patch)


def _name_differs(patch: dict[str, Any], child: Doc) -> bool:
    meta = patch.get("metadata")
    return isinstance(meta, dict) and bool(meta.get("name")) and meta.get("name") != child.name
