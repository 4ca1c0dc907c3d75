"""cluster.sample.yaml: a valid demo as shipped, documenting every key of the schema."""

from __future__ import annotations

import re
from typing import Any

from generator.config import load_cluster, summary
from generator.config.derive import apply_defaults
from generator.config.schema import load_schema, resolve
from generator.paths import SAMPLE_CONFIG

FIRST_LINE = "# yaml-language-server: $schema=./schemas/cluster.schema.json"


def all_keys(schema: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths of every property, list items included (`nodes[].name`)."""
    schema = resolve(schema)
    keys = []
    for name, prop in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        keys.append(path)
        prop = resolve(prop)
        keys.extend(all_keys(prop, f"{path}."))
        if isinstance(prop.get("items"), dict):
            keys.extend(all_keys(prop["items"], f"{path}[]."))
    return keys


def test_first_line_points_editors_at_the_schema() -> None:
    assert SAMPLE_CONFIG.read_text(encoding="utf-8").splitlines()[0] == FIRST_LINE


def test_sample_is_a_valid_three_controller_demo() -> None:
    cluster = load_cluster(SAMPLE_CONFIG)
    assert summary(cluster) == (
        "3 nodes (3 controllers, 0 workers), features on: ci, pod_disruption_budgets, pod_security"
    )
    values = cluster.values
    assert values["domain"]["name"] == "example.com"
    assert values["repository"]["url"] == "https://github.com/example/home-ops"
    assert re.fullmatch(r"[0-9a-f]{64}", values["talos"]["schematic_id"])
    assert values["dns"]["token"]


def test_sample_sets_direct_ingress_explicitly() -> None:
    # Renders on a fresh clone: the default (cloudflare-tunnel) needs cloudflare-tunnel.json.
    text = SAMPLE_CONFIG.read_text(encoding="utf-8")
    assert re.search(r"^ingress:\n(?:  #.*\n)*  mode: direct$", text, re.MULTILINE)
    assert "cloudflared tunnel create kubernetes" in text


def test_sample_features_are_the_spec_defaults() -> None:
    defaults = apply_defaults({})["features"]
    assert load_cluster(SAMPLE_CONFIG).values["features"] == defaults


def test_sample_mentions_every_schema_key() -> None:
    text = SAMPLE_CONFIG.read_text(encoding="utf-8")
    written = set(re.findall(r"^[ #-]*([a-z0-9_]+):", text, re.MULTILINE))
    missing = [key for key in all_keys(load_schema()) if key.rsplit(".", 1)[-1] not in written]
    assert missing == []
