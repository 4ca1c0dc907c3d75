"""Objects of a YAML file keyed by identity, and their normalized text to decide whether
one changed (never shown: a diff shows the file's own text, generator/diff/text.py).

Two files are equal when their objects are: document order, key order, quoting
and comments do not count. Secret values are never put into any text here;
for secrets only the names of keys come out.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import yaml

from generator import bounded_yaml

# (kind, namespace, name); documents that are not objects are keyed by position.
ObjectKey = tuple[str, str, str]


def parse_objects(content: bytes, path: str) -> dict[ObjectKey, Any] | None:
    """Documents keyed by identity; None when the file is not YAML (compare it as text)."""
    if not path.endswith((".yaml", ".yml")):
        return None
    try:
        docs = [d for d in bounded_yaml.load_all(content.decode("utf-8")) if d is not None]
    except (yaml.YAMLError, UnicodeDecodeError):
        return None
    objects: dict[ObjectKey, Any] = {}
    for index, doc in enumerate(docs):
        key = object_key(doc, index)
        if key in objects:  # Same identity twice: keep both apart by position.
            key = (key[0], key[1], f"{key[2]}#{index}")
        objects[key] = doc
    return objects


def object_key(doc: Any, index: int) -> ObjectKey:
    if isinstance(doc, dict) and isinstance(doc.get("metadata"), dict) and doc.get("kind"):
        meta = doc["metadata"]
        return (str(doc["kind"]), str(meta.get("namespace") or ""), str(meta.get("name") or ""))
    return ("", "", f"document {index + 1}")


def normalized(doc: Any) -> str:
    return yaml.safe_dump(doc, sort_keys=True, default_flow_style=False, allow_unicode=True)


def label(key: ObjectKey) -> str:
    kind, namespace, name = key
    if not kind:
        return name
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def without_sops(doc: Any) -> Any:
    return {k: v for k, v in doc.items() if k != "sops"} if isinstance(doc, dict) else doc


_OBJECT = "(object) "  # names of a Secret's fields outside data and stringData


def secret_values(doc: Any) -> dict[str, str]:
    """Every leaf of a secret document by key path; Secret `data` decoded so it
    compares equal to the same value written under `stringData`."""
    doc = without_sops(doc)
    if isinstance(doc, dict) and doc.get("kind") == "Secret":
        values: dict[str, str] = {}
        data = doc.get("data")
        if isinstance(data, dict):
            values.update({str(k): _b64(v) for k, v in data.items()})
        string_data = doc.get("stringData")
        if isinstance(string_data, dict):
            values.update({str(k): str(v) for k, v in string_data.items()})
        rest = {k: v for k, v in doc.items() if k not in ("data", "stringData")}
        values.update({f"{_OBJECT}{k}": v for k, v in _leaves(rest, "").items()})
        return values
    return _leaves(doc, "")


def _b64(value: Any) -> str:
    try:
        return base64.b64decode(str(value), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return str(value)


def _leaves(node: Any, prefix: str) -> dict[str, str]:
    if isinstance(node, dict):
        out: dict[str, str] = {}
        for key, value in node.items():
            out.update(_leaves(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(node, list):
        out = {}
        for i, value in enumerate(node):
            out.update(_leaves(value, f"{prefix}[{i}]"))
        return out
    return {prefix: repr(node)}


def secret_key_changes(old: Any, new: Any) -> tuple[list[str], list[str], list[str]]:
    """Names (never values) of the secret keys added, removed and changed, each sorted."""
    before, after = secret_values(old), secret_values(new)
    added = sorted(after.keys() - before.keys())
    removed = sorted(before.keys() - after.keys())
    changed = sorted(k for k in before.keys() & after.keys() if before[k] != after[k])
    return added, removed, changed


def secret_key_names(doc: Any) -> list[str]:
    """Names (never values) of a secret document's keys, sorted; for a Secret, those
    under data and stringData only."""
    return sorted(name for name in secret_values(doc) if not name.startswith(_OBJECT))
