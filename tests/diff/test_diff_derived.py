"""Plain files deriving from secret values: which parts, and comparing around them.

The last test lists every such file of an every-feature render (the class of issue 14
item 6), so a new template that derives a plain value from a secret shows up here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from generator import paths
from generator.config import NOT_DECRYPTED, NOT_DECRYPTED_PROBE, load_cluster
from generator.diff.derived import describe, matches, secret_derived
from generator.render.context import build_context, load_versions
from generator.render.tree import render_tree
from generator.secrets.files import is_secret_path
from generator.sidefiles import placeholder_side_files
from tests.rendering import EVERY_CHART, sample_with, write_config


def test_a_value_is_skipped_alone_outside_lists() -> None:
    first = {"spec": {"host": "a.example", "port": 1}}
    second = {"spec": {"host": "b.example", "port": 1}}
    skip = secret_derived(first, second)
    assert skip == {("spec", "host")}
    assert matches({"spec": {"host": "real", "port": 1}}, first, skip)
    assert not matches({"spec": {"host": "real", "port": 2}}, first, skip)


def test_a_value_in_a_list_skips_the_whole_list() -> None:
    # Two secret URLs on one port render one entry: the real list may be longer.
    first = {"ports": [{"port": "443"}], "rules": ["x"]}
    second = {"ports": [{"port": "1"}], "rules": ["x"]}
    skip = secret_derived(first, second)
    assert skip == {("ports",)}
    assert describe(sorted(skip)) == "ports"
    assert matches({"ports": [{"port": "8443"}, {"port": "8444"}], "rules": ["x"]}, first, skip)
    assert not matches({"ports": [], "rules": ["y"]}, first, skip)


def test_lists_of_different_length_are_skipped_whole() -> None:
    skip = secret_derived({"a": {"b": [1]}}, {"a": {"b": [1, 2]}})
    assert skip == {("a", "b")}
    assert describe(sorted(skip)) == "a.b"
    assert describe([("spec", "endpoints", 0, "targets")]) == "spec.endpoints[0].targets"


def test_equal_renders_skip_nothing() -> None:
    doc = {"a": [1, {"b": "c"}]}
    assert secret_derived(doc, doc) == frozenset()
    assert matches(doc, doc, frozenset())
    assert not matches({"a": [1, {"b": "d"}]}, doc, frozenset())


# Every secret value of the configuration, as cluster.secrets.sops.yaml would hold it.
SECRET_VALUES: dict[str, Any] = {
    "dns": {"token": None},
    "features": {
        "monitoring": {
            "alerting": {
                "receivers": [
                    {"url": None, "token": None},
                    {"address": None, "password": None},
                    {"user_key": None, "token": None},
                ],
                "heartbeat_url": None,
            }
        },
        "flux_notifications": {"address": None},
        "backups": {"s3": {"access_key": None, "secret_key": None}},
    },
}
RECEIVERS = [
    {"name": "ntfy", "type": "ntfy"},
    {
        "name": "mail",
        "type": "email",
        "smarthost": "smtp.example.com:587",
        "from": "alertmanager@example.com",
        "username": "alertmanager@example.com",
    },
    {"name": "phone", "type": "pushover"},
]
PUBLIC = {
    **EVERY_CHART,
    "ingress.mode": "cloudflare-tunnel",
    "features.network_policies": {"enabled": True, "mode": "enforce"},
    "features.flux_notifications": {"enabled": True, "provider": "discord"},
    "features.monitoring.alerting.receivers": RECEIVERS,
}


def _filled(node: Any, value: str) -> Any:
    if isinstance(node, dict):
        return {k: _filled(v, value) for k, v in node.items()}
    if isinstance(node, list):
        return [_filled(v, value) for v in node]
    return value


def _secret_paths(node: Any, at: str = "") -> set[str]:
    if isinstance(node, dict):
        return {p for k, v in node.items() for p in _secret_paths(v, f"{at}.{k}")}
    if isinstance(node, list):
        return {p for v in node for p in _secret_paths(v, f"{at}[]")}
    return {at}


def _schema_secret_paths(node: Any, at: str = "") -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        if node.get("x-secret") and at:
            found.add(at)
        for key, value in node.items():
            if key == "properties":
                for name, sub in value.items():
                    found |= _schema_secret_paths(sub, f"{at}.{name}")
            elif key == "items":
                found |= _schema_secret_paths(value, f"{at}[]")
            elif key in ("allOf", "anyOf", "oneOf"):
                for sub in value:
                    found |= _schema_secret_paths(sub, at)
            elif key in ("if", "then", "else"):
                found |= _schema_secret_paths(value, at)
    return found


def test_secret_values_cover_every_secret_key_of_the_schema() -> None:
    schema = json.loads(paths.SCHEMA_FILE.read_text())
    assert _secret_paths(SECRET_VALUES) == _schema_secret_paths(schema)


def _keyless_render(config: Path, placeholder: str) -> dict[str, bytes]:
    overlay = _filled(SECRET_VALUES, placeholder)
    cluster = load_cluster(config, overlay=overlay)
    side = placeholder_side_files(config.parent, placeholder)
    context = build_context(cluster.context(), side, load_versions(paths.VERSIONS_FILE))
    return render_tree(context).files


def test_every_plain_file_that_derives_from_a_secret(tmp_path: Path) -> None:
    data = sample_with(PUBLIC)
    data["dns"]["token"] = ""
    config = write_config(data, tmp_path)
    first = _keyless_render(config, NOT_DECRYPTED)
    second = _keyless_render(config, NOT_DECRYPTED_PROBE)
    assert first.keys() == second.keys()
    derived = {
        path: describe(
            sorted(secret_derived(yaml.safe_load(first[path]), yaml.safe_load(second[path])))
        )
        for path in sorted(first)
        if first[path] != second[path] and not is_secret_path(path)
    }
    policies = "kubernetes/apps"
    assert sorted(derived) == sorted(
        [
            # Port of features.flux_notifications.address.
            f"{policies}/flux-system/network-policies/flux.yaml",
            # Ports of the receivers' URLs and of alerting.heartbeat_url.
            f"{policies}/observability/network-policies/observability.yaml",
            # side.tunnel_id, from cloudflare-tunnel.json.
            "kubernetes/apps/network/cloudflare-tunnel/app/dnsendpoint.yaml",
        ]
    )
    assert derived["kubernetes/apps/network/cloudflare-tunnel/app/dnsendpoint.yaml"] == (
        "spec.endpoints[0].targets"
    )


def test_a_path_skipped_in_two_objects_is_named_once() -> None:
    assert describe([("spec", "a"), ("spec", "a"), ("kind",)]) == "kind, spec.a"
