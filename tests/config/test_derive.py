"""Defaults, computed defaults and `derived`: after loading, every key of the spec exists."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest

from generator.config import load_cluster, summary
from generator.config.schema import load_schema, resolve
from generator.config.urls import BUNDLED_KNOWN_HOSTS
from tests.config.conftest import BASE, SCHEMATIC, before_nodes, edit, load_text, write

FIXTURES = Path(__file__).parent / "fixtures"


def schema_paths(schema: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every property path of the schema, not descending into list items."""
    paths = []
    for name, prop in resolve(schema).get("properties", {}).items():
        paths.append((*prefix, name))
        paths.extend(schema_paths(resolve(prop), (*prefix, name)))
    return paths


def test_every_schema_key_exists_after_loading(tmp_path: Path) -> None:
    values = load_text(tmp_path, BASE).values
    for path in schema_paths(load_schema()):
        node: Any = values
        for part in path:
            assert isinstance(node, dict) and part in node, ".".join(path)
            node = node[part]
    node_keys = set(load_schema()["properties"]["nodes"]["items"]["properties"])
    assert all(set(n) == node_keys for n in values["nodes"])


def test_literal_and_computed_defaults(tmp_path: Path) -> None:
    values = load_text(tmp_path, BASE).values
    assert values["network"]["default_gateway"] == "192.168.1.1"
    assert values["network"]["dns_servers"] == ["1.1.1.1", "1.0.0.1"]
    assert values["network"]["vlan_tag"] is None
    assert values["kubernetes"]["pod_cidr"] == "10.42.0.0/16"
    assert values["kubernetes"]["coredns_addr"] == "10.43.0.10"
    assert values["kubernetes"]["api"]["tls_sans"] == []
    assert values["repository"]["branch"] == "main"
    assert values["repository"]["known_hosts"] == ""
    assert values["ingress"]["mode"] == "cloudflare-tunnel"
    assert values["spegel"]["enabled"] is True
    assert values["cilium"]["bgp"] == {"router_addr": None, "router_asn": None, "node_asn": None}
    assert [n["schematic_id"] for n in values["nodes"]] == [SCHEMATIC, SCHEMATIC]
    assert [n["mtu"] for n in values["nodes"]] == [1500, 1500]
    features = values["features"]
    assert features["pod_security"] == {"enabled": True, "level": "baseline"}
    assert features["backups"]["s3"]["region"] == "us-east-1"
    assert features["backups"]["schedules"]["weekly"] == {"schedule": "0 4 * * 0", "ttl": "720h"}
    assert features["monitoring"]["alerting"] == {"receivers": [], "heartbeat_url": None}
    assert features["flux_notifications"] == {"enabled": False, "provider": None, "address": None}


def test_ingress_defaults_to_none_without_cloudflare(tmp_path: Path) -> None:
    text = edit(BASE, ("provider: cloudflare", "provider: none"), ("token: fake-token", ""))
    assert load_text(tmp_path, text).values["ingress"]["mode"] == "none"


def test_single_node_cluster(tmp_path: Path) -> None:
    text = "\n".join(BASE.splitlines()[:25]) + "\n"
    cluster = load_text(tmp_path, text)
    assert cluster.values["spegel"]["enabled"] is False
    derived = cluster.derived
    assert (derived["node_count"], derived["controller_count"]) == (1, 1)
    assert (derived["replicas_any_node"], derived["replicas_control_plane"]) == (1, 1)
    assert derived["ha"] is False
    assert derived["workers"] == []
    assert summary(cluster) == (
        "1 node (1 controller, 0 workers), features on: ci, pod_disruption_budgets, pod_security"
    )


def test_replicas_are_capped_at_three(tmp_path: Path) -> None:
    nodes = "".join(
        f"  - name: n{i}\n    address: 192.168.1.{30 + i}\n    controller: true\n"
        f"    disk: /dev/sda\n    mac_addr: '02:00:00:00:01:{i:02d}'\n"
        for i in range(5)
    )
    text = BASE.split("nodes:")[0] + "nodes:\n" + nodes
    derived = load_text(tmp_path, text).derived
    assert (derived["controller_count"], derived["ha"]) == (5, True)
    assert (derived["replicas_any_node"], derived["replicas_control_plane"]) == (3, 3)
    assert [n["name"] for n in derived["controllers"]] == ["n0", "n1", "n2", "n3", "n4"]


def test_numeric_strings_become_ints(tmp_path: Path) -> None:
    text = edit(
        BASE,
        ("node_cidr: 192.168.1.0/24", '+  vlan_tag: "20"'),
        ("talos:", "cilium:\n  bgp:\n    router_addr: 192.168.1.1\n"
                   "    router_asn: '64513'\n    node_asn: 64514\ntalos:"),
    )  # fmt: skip
    cluster = load_text(tmp_path, text)
    assert cluster.values["network"]["vlan_tag"] == 20
    assert cluster.values["cilium"]["bgp"] == {
        "router_addr": "192.168.1.1", "router_asn": 64513, "node_asn": 64514,
    }  # fmt: skip
    assert cluster.derived["bgp_enabled"] is True


def test_quantities_become_strings(tmp_path: Path) -> None:
    text = edit(
        BASE,
        before_nodes("""
        features:
          resource_governance:
            quota:
              requests_cpu: 2
    """),
    )
    quota = load_text(tmp_path, text).values["features"]["resource_governance"]["quota"]
    assert quota["requests_cpu"] == "2"
    assert quota["pods"] == 50


@pytest.mark.parametrize(
    ("url", "known_hosts", "is_ssh", "host", "expected"),
    [
        ("https://github.com/example/home-ops", "", False, "github.com", ""),
        ("ssh://git@github.com/example/home-ops", "", True, "github.com",
         BUNDLED_KNOWN_HOSTS["github.com"]),
        ("ssh://git@gitlab.com/example/home-ops", "", True, "gitlab.com",
         BUNDLED_KNOWN_HOSTS["gitlab.com"]),
        ("ssh://git@codeberg.org/example/home-ops", "", True, "codeberg.org",
         BUNDLED_KNOWN_HOSTS["codeberg.org"]),
        ("ssh://git@git.lan:2222/me/ops", "[git.lan]:2222 ssh-ed25519 AAAA", True, "git.lan",
         "[git.lan]:2222 ssh-ed25519 AAAA\n"),
        ("ssh://git@github.com/me/ops", "github.com ssh-ed25519 CUSTOM", True, "github.com",
         "github.com ssh-ed25519 CUSTOM\n"),
    ],
)  # fmt: skip
def test_repository_derived(
    tmp_path: Path, url: str, known_hosts: str, is_ssh: bool, host: str, expected: str
) -> None:
    text = edit(BASE, ("url: https://github.com/example/home-ops", f"url: {url}"))
    text = edit(text, (f"url: {url}", f"url: {url}\nwebhook_provider: none"))
    if known_hosts:
        text = edit(text, (f"url: {url}", f"url: {url}\nknown_hosts: '{known_hosts}'"))
    derived = load_text(tmp_path, text).derived
    assert (derived["repo_is_ssh"], derived["repo_host"]) == (is_ssh, host)
    assert derived["repo_known_hosts"] == expected


# Published SHA256 fingerprints (GitHub, GitLab and Codeberg documentation).
FINGERPRINTS = {
    ("github.com", "ssh-ed25519"): "+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU",
    ("github.com", "ecdsa-sha2-nistp256"): "p2QAMXNIC1TJYWeIOttrVc98/R1BUFWu3/LiyKgUfQM",
    ("gitlab.com", "ssh-ed25519"): "eUXGGm1YGsMAS7vkcx6JOJdOGHPem5gQp4taiCfCLB8",
    ("gitlab.com", "ecdsa-sha2-nistp256"): "HbW3g8zUjNSksFbqTiUWPWg2Bq1x8xdGUrliXFzSnUw",
    ("codeberg.org", "ssh-ed25519"): "mIlxA9k46MmM6qdJOdMnAQpzGxF4WIVVL+fj+wZbw0g",
    ("codeberg.org", "ecdsa-sha2-nistp256"): "T9FYDEHELhVkulEKKwge5aVhVTbqCW0MIRwAfpARs/E",
}


def test_bundled_host_keys_match_published_fingerprints() -> None:
    seen = {}
    for host, lines in BUNDLED_KNOWN_HOSTS.items():
        for line in lines.splitlines():
            name, kind, key = line.split()
            digest = hashlib.sha256(base64.b64decode(key, validate=True)).digest()
            seen[(name, kind)] = base64.b64encode(digest).decode().rstrip("=")
            assert name == host
    assert seen == FINGERPRINTS


def test_features_on_is_sorted_and_complete(tmp_path: Path) -> None:
    text = edit(
        BASE,
        before_nodes("""
        features:
          monitoring:
            enabled: true
          ci:
            enabled: false
          pod_security:
            enabled: false
    """),
    )
    assert load_text(tmp_path, text).derived["features_on"] == [
        "monitoring",
        "pod_disruption_budgets",
    ]


def test_context_digest_and_path(tmp_path: Path) -> None:
    path = write(tmp_path, BASE)
    cluster = load_cluster(path)
    context = cluster.context()
    assert context["derived"] is cluster.derived
    assert set(context) == {*load_schema()["properties"], "derived"}
    assert cluster.path == path
    # Same meaning, different formatting: same digest. Different value: different digest.
    reformatted = write(
        tmp_path, "# comment\n" + BASE.replace("fake-token", "'fake-token'"), "b.yaml"
    )
    assert load_cluster(reformatted).digest == cluster.digest
    changed = write(tmp_path, BASE.replace("example.com", "example.org"), "c.yaml")
    assert load_cluster(changed).digest != cluster.digest
    assert len(cluster.digest) == 64


@pytest.mark.parametrize(
    ("fixture", "any_node", "control_plane"),
    [
        # Controllers are schedulable, so workers add to what unpinned workloads can use.
        ("one-controller-three-workers", 3, 1),
        ("single-node", 1, 1),
        ("three-controllers", 3, 3),
    ],
)
def test_replicas_follow_the_nodes_a_workload_may_run_on(
    fixture: str, any_node: int, control_plane: int
) -> None:
    derived = load_cluster(FIXTURES / "valid" / f"{fixture}.yaml").derived
    assert derived["replicas_any_node"] == any_node
    assert derived["replicas_control_plane"] == control_plane
