"""features.network_policies on rendered trees: coverage, audit vs enforce, selectors that
match the charts' pod labels (helpers in tests/templates/security.py)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from generator.validate.schemas import SchemaStore
from tests.templates.security import (
    ALL_ON,
    ENFORCE,
    NS_LABEL,
    SECURITY_OFF,
    SINGLE_NODE,
    TUNNEL,
    Tree,
    Trees,
    find,
    helm_values,
    namespaces,
    of_kind,
    policies,
)
from tests.templates.security_charts import CHART_LABELS

RUNBOOK = "docs/network-policies.md"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Trees:
    return Trees(tmp_path_factory)


@pytest.mark.parametrize("changes", [ALL_ON, ENFORCE, {**ENFORCE, **TUNNEL, **SINGLE_NODE}])
def test_every_namespace_has_its_own_policy(
    tree: Callable[..., Tree], changes: dict[str, Any]
) -> None:
    files = tree(changes)
    covered = {d["metadata"]["namespace"] for d in of_kind(files, "CiliumNetworkPolicy")}
    assert set(namespaces(files)) <= covered


# What audit and enforce may render differently: the Cilium agent's audit flag and the
# runbook's sentence naming the mode.
MODE_FILES = ("kubernetes/apps/kube-system/cilium/app/helmrelease.yaml", RUNBOOK)


def _keyless(content: bytes) -> bytes:
    return re.sub(rb"age1[0-9a-z]{58}", b"age1...", content)


@pytest.mark.parametrize("extra", [{}, {**TUNNEL, **SINGLE_NODE}])
def test_audit_renders_exactly_the_enforce_policies(
    tree: Callable[..., Tree], extra: dict[str, Any]
) -> None:
    audit, enforce = tree({**ALL_ON, **extra}), tree({**ENFORCE, **extra})
    assert audit.keys() == enforce.keys()
    # Each render has its own fresh age key.
    differ = sorted(p for p in audit if _keyless(audit[p]) != _keyless(enforce[p]))
    assert differ == sorted(MODE_FILES)
    cilium_audit, cilium_enforce = helm_values(audit, "cilium"), helm_values(enforce, "cilium")
    assert cilium_audit.pop("policyAuditMode") is True
    assert cilium_audit == cilium_enforce


@pytest.mark.parametrize("changes", [ALL_ON, ENFORCE])
def test_both_modes_deny_by_default_but_allow_dns_and_the_api(
    tree: Callable[..., Tree], changes: dict[str, Any]
) -> None:
    files = tree(changes)
    for policy in policies(files):
        assert "enableDefaultDeny" not in policy["spec"], policy["metadata"]["name"]
    deny = find(files, "CiliumClusterwideNetworkPolicy", "default-deny")["spec"]
    assert deny["endpointSelector"] == {} and deny["ingress"] == [{}] and deny["egress"] == [{}]

    dns = find(files, "CiliumClusterwideNetworkPolicy", "allow-dns")["spec"]
    assert dns["endpointSelector"] == {}
    target = dns["egress"][0]["toEndpoints"][0]["matchLabels"]
    coredns = helm_values(files, "coredns")
    assert target == {NS_LABEL: "kube-system", "k8s-app": coredns["k8sAppLabelOverride"]}
    ports = {(p["port"], p["protocol"]) for p in dns["egress"][0]["toPorts"][0]["ports"]}
    assert ports == {("53", "UDP"), ("53", "TCP")}

    api = find(files, "CiliumClusterwideNetworkPolicy", "allow-kube-apiserver")["spec"]
    assert api["endpointSelector"] == {}
    assert api["egress"][0]["toEntities"] == ["kube-apiserver"]


@pytest.mark.parametrize("changes", [ENFORCE, {**ENFORCE, **TUNNEL}])
def test_policy_selectors_match_chart_labels(
    tree: Callable[..., Tree], changes: dict[str, Any]
) -> None:
    for policy in of_kind(tree(changes), "CiliumNetworkPolicy"):
        selector = policy["spec"]["endpointSelector"].get("matchLabels")
        if not selector:
            continue  # Every pod of the namespace.
        labels, source = CHART_LABELS[policy["metadata"]["name"]]
        assert selector.items() <= labels.items(), f"{policy['metadata']['name']}: {source}"


def test_scrapers_are_the_pods_the_metrics_stack_labels(tree: Callable[..., Tree]) -> None:
    files = tree(ALL_ON)
    prometheus = helm_values(files, "kube-prometheus-stack")["prometheus"]["prometheusSpec"]
    scraper_labels = prometheus["podMetadata"]["labels"]
    rules = [
        rule
        for policy in of_kind(files, "CiliumNetworkPolicy")
        for rule in policy["spec"].get("ingress", [])
        if any(NS_LABEL in e.get("matchLabels", {}) for e in rule.get("fromEndpoints", []))
    ]
    scrape = [r for r in rules if r["fromEndpoints"][0]["matchLabels"][NS_LABEL] == "observability"]
    assert scrape
    for rule in scrape:
        wanted = {k: v for k, v in rule["fromEndpoints"][0]["matchLabels"].items() if k != NS_LABEL}
        assert wanted.items() <= scraper_labels.items()


def test_flux_may_reach_the_git_servers_port(tree: Callable[..., Tree]) -> None:
    files = tree(
        {
            **ALL_ON,
            "repository.url": "ssh://git@git.example.com:2222/me/home-ops",
            "repository.known_hosts": "git.example.com ssh-ed25519 AAAAC3Nza",
        }
    )
    flux = find(files, "CiliumNetworkPolicy", "flux")["spec"]
    world = next(r for r in flux["egress"] if r.get("toEntities") == ["world"])
    assert {p["port"] for p in world["toPorts"][0]["ports"]} == {"443", "2222"}


@pytest.mark.parametrize("mode", ["audit", "enforce"])
def test_cilium_audits_policies_only_in_audit_mode(tree: Callable[..., Tree], mode: str) -> None:
    files = tree({**ALL_ON, "features.network_policies.mode": mode})
    assert helm_values(files, "cilium").get("policyAuditMode", False) is (mode == "audit")
    assert "policyAuditMode" not in helm_values(tree(SECURITY_OFF), "cilium")


def _admits(
    files: Tree, namespace: str, pod: dict[str, str], port: str, source: Callable[[Any], bool]
) -> bool:
    """Some policy of `namespace` selecting `pod` lets `source` (a rule predicate) in on `port`."""
    for policy in of_kind(files, "CiliumNetworkPolicy"):
        if policy["metadata"]["namespace"] != namespace:
            continue
        selector = policy["spec"]["endpointSelector"].get("matchLabels", {})
        if not selector.items() <= pod.items():
            continue
        for rule in policy["spec"].get("ingress", []):
            ports = {p["port"] for tp in rule.get("toPorts", []) for p in tp["ports"]}
            if source(rule) and (not rule.get("toPorts") or port in ports):
                return True
    return False


def _from_scrapers(rule: Any) -> bool:
    return any(
        e.get("matchLabels", {}).get(NS_LABEL) == "observability"
        and e["matchLabels"].get("clustergen.io/metrics-scraper") == "true"
        for e in rule.get("fromEndpoints", [])
    )


def _from_apiserver(rule: Any) -> bool:
    return "kube-apiserver" in rule.get("fromEntities", [])


# Pods the ServiceMonitors/PodMonitors scrape outside the observability namespace (which
# allows itself): (namespace, pod labels, metrics port). Host-network pods (Cilium,
# node-exporter) are not endpoints and need no policy.
SCRAPED = [
    ("kube-system", "coredns", "9153"),
    ("kube-system", "metrics-server", "10250"),
    ("kube-system", "reloader", "9090"),
    ("kube-system", "spegel", "9090"),
    ("cert-manager", "cert-manager", "9402"),
    ("cert-manager", "cert-manager-webhook", "9402"),
    ("cert-manager", "cert-manager-cainjector", "9402"),
    ("network", "envoy-gateway", "19001"),
    ("network", "envoy-proxies", "19001"),
    ("network", "cloudflare-dns", "7979"),
    ("kyverno", "kyverno-admission-controller", "8000"),
    ("kyverno", "kyverno-cleanup-controller", "8000"),
]
# Pods every pod of whose namespace is scraped on one port.
SCRAPED_NAMESPACES = [("flux-system", "8080"), ("velero", "8085"), ("trivy-system", "8080")]
# Webhooks and aggregated APIs the API server calls: (namespace, pod labels, port).
WEBHOOKS = [
    ("cert-manager", "cert-manager-webhook", "10250"),
    ("kube-system", "metrics-server", "10250"),
    ("network", "envoy-gateway", "9443"),
    ("kyverno", "kyverno-admission-controller", "9443"),
    ("kyverno", "kyverno-cleanup-controller", "9443"),
]


def test_enforce_mode_lets_the_scrapers_reach_every_monitored_pod(
    tree: Callable[..., Tree],
) -> None:
    files = tree(ENFORCE)
    blocked = [
        f"{ns}/{name}:{port}"
        for ns, name, port in SCRAPED
        if not _admits(files, ns, CHART_LABELS[name][0], port, _from_scrapers)
    ]
    blocked += [
        f"{ns}/*:{port}"
        for ns, port in SCRAPED_NAMESPACES
        if not _admits(files, ns, {}, port, _from_scrapers)
    ]
    assert blocked == []


@pytest.mark.parametrize(
    "stack,port", [("kube-prometheus-stack", "10250"), ("victoria-metrics", "9443")]
)
def test_enforce_mode_lets_the_api_server_call_every_webhook(
    tree: Callable[..., Tree], stack: str, port: str
) -> None:
    files = tree({**ENFORCE, "features.monitoring.stack": stack})
    # The metrics operator's validating webhook (prometheus-operator / VM operator).
    webhooks = [*WEBHOOKS, ("observability", None, port)]
    blocked = [
        f"{ns}/{name}:{p}"
        for ns, name, p in webhooks
        if not _admits(files, ns, CHART_LABELS[name][0] if name else {}, p, _from_apiserver)
    ]
    assert blocked == []


def test_enforce_mode_lets_alerts_and_notifications_out_on_their_ports(
    tree: Callable[..., Tree],
) -> None:
    files = tree(
        {
            **ENFORCE,
            "features.monitoring.alerting.receivers": [
                {"name": "ntfy", "type": "ntfy", "url": "http://ntfy.home.arpa:8080/alerts"},
                {"name": "hook", "type": "webhook", "url": "http://hooks.home.arpa/x"},
                {
                    "name": "mail",
                    "type": "email",
                    "address": "me@example.org",
                    "smarthost": "smtp.example.org:465",
                    "from": "am@example.org",
                },
            ],
            "features.monitoring.alerting.heartbeat_url": "https://hc.example.org:8443/ping",
            "features.flux_notifications.enabled": True,
            "features.flux_notifications.provider": "generic",
            "features.flux_notifications.address": "https://hooks.example.org:9443/flux",
        }
    )

    def world_ports(name: str) -> set[str]:
        spec = find(files, "CiliumNetworkPolicy", name)["spec"]
        rule = next(r for r in spec["egress"] if r.get("toEntities") == ["world"])
        return {p["port"] for p in rule["toPorts"][0]["ports"]}

    assert world_ports("observability") == {"443", "8080", "80", "465", "8443"}
    assert world_ports("flux") == {"443", "9443"}


def _yaml_blocks(markdown: str) -> list[dict[str, Any]]:
    blocks = re.findall(r"^```yaml\n(.*?)^```$", markdown, flags=re.M | re.S)
    return [d for block in blocks for d in yaml.safe_load_all(block) if d is not None]


@pytest.mark.parametrize("mode", ["audit", "enforce"])
def test_runbook_names_the_mode_and_its_cnp_example_is_valid(
    tree: Callable[..., Tree], schemas: SchemaStore, mode: str
) -> None:
    files = tree({**ALL_ON, "features.network_policies.mode": mode})
    runbook = files[RUNBOOK].decode()
    assert f"**{mode}** mode" in runbook
    for verdict in (
        "--verdict AUDIT",
        "--verdict DROPPED",
        "features.network_policies.mode: enforce",
    ):
        assert verdict in runbook
    [example] = _yaml_blocks(runbook)
    assert example["kind"] == "CiliumNetworkPolicy"
    result = schemas.check(example)
    assert result.found and not result.errors, result.errors
    # Its gateway peer is the one the rendered policies use for traffic from the gateways.
    echo = find(files, "CiliumNetworkPolicy", "echo")["spec"]["ingress"][0]["fromEndpoints"]
    assert example["spec"]["ingress"][0]["fromEndpoints"] == echo


@pytest.mark.parametrize(
    "changes", [SECURITY_OFF, {**ALL_ON, "features.network_policies.enabled": False}]
)
def test_runbook_only_with_network_policies(
    tree: Callable[..., Tree], changes: dict[str, Any]
) -> None:
    files = tree(changes)
    assert RUNBOOK not in files
    assert not [p for p, c in files.items() if b"policyAuditMode" in c]
