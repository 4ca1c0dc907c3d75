"""Schema errors read like advice: did-you-mean, allowed values, and never a secret echoed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from generator.config.schema import load_schema
from generator.paths import SCHEMA_FILE
from tests.config.conftest import BASE, before_nodes, edit, problems, where, write

BROKEN: dict[str, tuple[list[tuple[str, str]], list[tuple[str, str, str]]]] = {
    "misspelt key": (
        [("address: 192.168.1.10", "adress: 192.168.1.10")],
        [("name: k8s-0", "nodes[0].address", "is required"),
         ("adress", "nodes[0].adress", "unknown key 'adress' (did you mean 'address'?)")],
    ),
    "unknown key without a close match": (
        [("name: example.com", "name: example.com\nzone: lan")],
        [("zone", "domain.zone", "unknown key 'zone' (allowed: name)")],
    ),
    "unknown section": (
        [("network:", "netwrok:")],
        [("schema_version", "network", "is required"),
         ("netwrok", "netwrok", "unknown key 'netwrok' (did you mean 'network'?)")],
    ),
    "enum with a near miss": (
        [("provider: cloudflare", "provider: clouflare")],
        [("provider", "dns.provider",
          "must be one of: cloudflare, none (got 'clouflare'; did you mean 'cloudflare'?)")],
    ),
    "a word of an option beats spelling": (
        [before_nodes("""
            ingress:
              mode: tunnel
        """)],
        [("mode: tunnel", "ingress.mode",
          "must be one of: cloudflare-tunnel, direct, none "
          "(got 'tunnel'; did you mean 'cloudflare-tunnel'?)")],
    ),
    "yes is not a boolean": (
        [("controller: true", "controller: yes")],
        [("controller: yes", "nodes[0].controller",
          "must be true or false (got 'yes'; 'yes' is plain text here)")],
    ),
    "wrong type for a list": (
        [("node_cidr: 192.168.1.0/24", "node_cidr: 192.168.1.0/24\ndns_servers: 1.1.1.1")],
        [("dns_servers", "network.dns_servers", "must be a list (got '1.1.1.1')")],
    ),
    "bad IPv4": (
        [("internal: 192.168.1.21", "internal: 192.168.1.256")],
        [("internal", "gateways.internal",
          "must be an IPv4 address like 192.168.1.10 (got '192.168.1.256')")],
    ),
    "bad CIDR": (
        [("node_cidr: 192.168.1.0/24", "node_cidr: 192.168.1.0/33")],
        [("node_cidr", "network.node_cidr",
          "must be an IPv4 network in CIDR form like 192.168.1.0/24 (got '192.168.1.0/33')")],
    ),
    "a float is not a whole number": (
        [("address: 192.168.1.10", "+    mtu: 1500.0")],
        [("mtu", "nodes[0].mtu", "must be a whole number (got 1500.0)")],
    ),
    "derived cannot be set": (
        [("network:", "derived:\n  ha: true\nnetwork:")],
        [("derived", "derived", "is computed by clustergen and cannot be set in cluster.yaml")],
    ),
    "secret values are never echoed": (
        [("token: fake-token", "token: [fake, token]")],
        [("token", "dns.token", "must be text")],
    ),
    "empty node list": (
        [("nodes:", "nodes: []")] + [(line.strip(), "") for line in BASE.splitlines()[20:]],
        [("nodes", "nodes", "must list at least 1 item(s)")],
    ),
    "receiver needs its type's keys": (
        [before_nodes("""
            features:
              monitoring:
                alerting:
                  receivers:
                    - name: phone
                      type: pushover
                      token: secret-token
        """)],
        [("name: phone", "features.monitoring.alerting.receivers[0].user_key",
          "is required when type is pushover")],
    ),
}  # fmt: skip


@pytest.mark.parametrize(("changes", "expected"), BROKEN.values(), ids=BROKEN.keys())
def test_schema_messages(
    tmp_path: Path, changes: list[tuple[str, str]], expected: list[tuple[str, str, str]]
) -> None:
    text = edit(BASE, *changes)
    wanted = [f"cluster.yaml:{where(text, anchor)} {key}: {msg}" for anchor, key, msg in expected]
    assert problems(write(tmp_path, text)) == wanted


def test_secret_url_is_not_echoed(tmp_path: Path) -> None:
    text = edit(
        BASE,
        before_nodes("""
        features:
          monitoring:
            alerting:
              heartbeat_url: http://hc-ping.com/s3cr3t
    """),
    )
    found = problems(write(tmp_path, text))
    assert found == [
        f"cluster.yaml:{where(text, 'heartbeat_url')} "
        "features.monitoring.alerting.heartbeat_url: must be an https:// URL; a port, if given, "
        "is from 1 to 65535"
    ]
    assert "s3cr3t" not in found[0]


def test_section_with_every_key_commented_out_is_empty(tmp_path: Path) -> None:
    text = edit(BASE, ("talos:", "cilium:\n  bgp:\n    # router_asn: 64513\nspegel:\ntalos:"))
    assert problems(write(tmp_path, text)) == []


def test_schema_is_valid_2020_12_and_closed_everywhere() -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            if "properties" in node:
                assert node.get("additionalProperties") is False, where
                for name, prop in node["properties"].items():
                    assert prop.get("description"), f"{where}.{name} has no description"
            for key, value in node.items():
                if key != "if":  # conditions match on a few keys; they are not closed
                    walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}/{index}")

    walk(load_schema(), "#")


SECRETS = [
    ("dns", "token"),
    ("features", "monitoring", "alerting", "heartbeat_url"),
    ("features", "flux_notifications", "address"),
    ("features", "backups", "s3", "access_key"),
    ("features", "backups", "s3", "secret_key"),
    *[
        ("features", "monitoring", "alerting", "receivers", 0, key)
        for key in ("url", "address", "token", "user_key", "password")
    ],
]


@pytest.mark.parametrize("path", SECRETS, ids=lambda p: ".".join(map(str, p)))
def test_secret_keys_are_marked(path: tuple[str | int, ...]) -> None:
    from generator.config.schema import is_secret

    assert is_secret(path)


def test_non_secret_keys_are_not_marked() -> None:
    from generator.config.schema import is_secret

    assert not is_secret(("repository", "url"))
    assert not is_secret(("features", "backups", "s3", "bucket"))


def test_a_missing_section_points_at_the_top_of_the_file(tmp_path: Path) -> None:
    # The sample opens with comments: its top-level mapping starts at line 11, which is
    # about schema_version, not about the section that is missing.
    sample = (Path(__file__).parents[2] / "cluster.sample.yaml").read_text()
    assert "\nnetwork:\n" in sample
    config = tmp_path / "cluster.yaml"
    config.write_text(sample.replace("\nnetwork:\n", "\nnetwerk:\n", 1))
    found = problems(config)
    assert found[0] == "cluster.yaml:1:1 network: is required"
    assert found[1].endswith("netwerk: unknown key 'netwerk' (did you mean 'network'?)")
