"""The schema and the spec's key tables (shared/spec/cluster-config.md) agree.

Every key listed in the tables exists in the schema; where the spec gives a
literal default, enum values or marks a key secret, the schema says the same.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from generator.config.locate import format_path
from generator.config.schema import load_schema, resolve
from generator.migrations import renamed_keys
from tests.shared import SPEC

pytestmark = pytest.mark.skipif(not SPEC.is_file(), reason="spec not checked out next to the repo")


def table_rows() -> list[tuple[str, str, str]]:
    """(key cell, type cell, default cell) of every table row naming a key."""
    rows = []
    for line in SPEC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not re.match(r"^[a-z_]+(\.|\[\])", cells[0]):
            continue
        if len(cells) == 4:  # core: key | type | default | rule
            rows.append((cells[0], cells[1], cells[2]))
        else:  # features: key | default | what it renders
            rows.append((cells[0], "", cells[1]))
    return rows


def split_parts(cell: str) -> list[tuple[str, str]]:
    """'a.b.c / .d (x, y) / e' -> [('a.b.c', ''), ('a.b.d', 'x, y'), ('a.b.e', '')]."""
    parts = []
    first = ""
    for raw in cell.split(" / "):
        match = re.match(r"^([\w.\[\]]+)\s*(?:\((.*)\))?$", raw.strip())
        assert match, f"cannot read spec key {raw!r}"
        name, note = match[1].replace("[]", ""), match[2] or ""
        if not first:
            first = name
            full = name
        elif name.startswith("."):
            full = first.rsplit(".", 1)[0] + name
        elif "." in name:
            full = name
        else:
            full = first.rsplit(".", 1)[0] + "." + name
        parts.append((full, note))
    return parts


def node_keys() -> list[str]:
    text = SPEC.read_text(encoding="utf-8")
    paragraph = text.split("`nodes[]`:", 1)[1].split("\n\n", 1)[0]
    names = re.findall(r"`([a-z_]+)`", paragraph)
    return [n for n in names if n not in ("global", "worker")]


def schema_at(dotted: str) -> dict[str, Any] | None:
    """The schema of the spec's key `dotted`; a key a migration renamed since the spec was
    written (generator/migrations/) is looked up under its new name."""
    renamed = {format_path(old): format_path(new) for old, new in renamed_keys().items()}
    dotted = renamed.get(dotted, dotted)
    node: dict[str, Any] = load_schema()
    for part in dotted.split("."):
        node = resolve(node)
        if "properties" not in node and isinstance(node.get("items"), dict):
            node = resolve(node["items"])
        props = node.get("properties", {})
        if part not in props:
            return None
        parent, node = node, props[part]
    node = resolve(node)
    node["_required"] = part in parent.get("required", [])
    return node


def literal(text: str) -> tuple[bool, Any]:
    """(True, value) when the spec's default cell is a literal value."""
    text = text.strip()
    if text in ("none", "unset"):
        return True, None
    if text in ("true", "false"):
        return True, text == "true"
    if text == '""':
        return True, ""
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        return True, [item.strip() for item in inner.split(",")] if inner else []
    if re.fullmatch(r"[\w./-]+", text) and not text.isdigit():
        return True, text
    return False, None


def checks() -> list[tuple[str, str, str, str | None]]:
    """(key, note, type cell, default cell) per key; a default lines up with its key."""
    out = []
    for key_cell, type_cell, default_cell in table_rows():
        parts = split_parts(key_cell)
        if default_cell.endswith(" for all"):
            defaults = [default_cell.removesuffix(" for all")] * len(parts)
        else:
            defaults = default_cell.split(" / ")
        types = type_cell.split(" / ") if len(parts) > 1 else [type_cell]
        for index, (full, note) in enumerate(parts):
            default = defaults[index] if index < len(defaults) else None
            out.append((full, note, types[index] if index < len(types) else "", default))
    return out


CHECKS = checks()


def test_spec_tables_were_read() -> None:
    keys = {full for full, *_ in CHECKS}
    assert {"network.node_cidr", "nodes", "features.ci.renovate", "cilium.bgp.node_asn"} <= keys
    assert len(keys) > 50


@pytest.mark.parametrize(
    ("key", "note", "type_cell", "default"), CHECKS, ids=[c[0] for c in CHECKS]
)
def test_spec_key_matches_schema(key: str, note: str, type_cell: str, default: str | None) -> None:
    schema = schema_at(key)
    assert schema is not None, f"{key} is in the spec but not in the schema"
    if default is not None:
        if default == "required" or default.startswith("required,"):
            assert schema["_required"], f"{key} should be required"
        else:
            is_literal, value = literal(default)
            if is_literal:
                assert schema.get("default", None) == value, f"{key} default"
    enum_source = note if note and ":" not in note and note != "secret" else type_cell
    if re.fullmatch(r"[a-z-]+(, [a-z-]+)+", enum_source):
        allowed = [v for v in schema.get("enum", []) if v is not None]
        assert allowed == enum_source.split(", "), f"{key} enum"
    if note == "secret" or "secret" in type_cell:
        assert schema.get("x-secret") is True, f"{key} should be marked x-secret"


@pytest.mark.parametrize("name", node_keys())
def test_spec_node_keys_exist(name: str) -> None:
    assert schema_at(f"nodes.{name}") is not None


def sub_key_notes() -> list[tuple[str, str, str]]:
    """From notes like '(name, type: a, b; url or address: secret)': (key, sub-key, after-colon)."""
    out = []
    for key, note, _, _ in CHECKS:
        if ":" not in note:
            continue
        for segment in note.split(";"):
            names_text, _, after = segment.partition(":")
            names = [n.strip() for n in re.split(r",| or ", names_text)]
            for index, name in enumerate(names):
                # "a, b: x" describes b; "a or b: x" describes both.
                applies = " or " in names_text or index == len(names) - 1
                out.append((key, name, after.strip() if applies else ""))
    return out


@pytest.mark.parametrize(("key", "sub", "after"), sub_key_notes(), ids=lambda v: str(v))
def test_spec_sub_keys_match_schema(key: str, sub: str, after: str) -> None:
    schema = schema_at(f"{key}.{sub}")
    assert schema is not None, f"{key}.{sub} is in the spec but not in the schema"
    if after == "secret":
        assert schema.get("x-secret") is True
    elif after and after != "secrets":
        assert schema.get("enum") == after.split(", ")
