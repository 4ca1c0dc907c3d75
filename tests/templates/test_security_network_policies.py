"""features.network_policies on rendered trees: coverage, audit vs enforce, selectors that
match the charts' pod labels (helpers in tests/templates/security.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.templates.security import (
    ALL_ON,
    SECURITY_OFF,
    SINGLE_NODE,
    Tree,
    Trees,
    find,
    helm_values,
    namespaces,
    of_kind,
    policies,
)
from tests.templates.security_charts import CHART_LABELS

pytestmark = pytest.mark.slow

ENFORCE = {**ALL_ON, "features.network_policies.mode": "enforce"}
TUNNEL = {"ingress.mode": "cloudflare-tunnel"}
NS_LABEL = "k8s:io.kubernetes.pod.namespace"


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


def test_audit_mode_never_default_denies(tree: Callable[..., Tree]) -> None:
    rendered = policies(tree(ALL_ON))
    assert rendered
    for policy in rendered:
        assert policy["spec"]["enableDefaultDeny"] == {"egress": False, "ingress": False}
        assert policy["metadata"]["name"] != "default-deny"


def test_enforce_mode_denies_by_default_but_allows_dns_and_the_api(
    tree: Callable[..., Tree],
) -> None:
    files = tree(ENFORCE)
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
