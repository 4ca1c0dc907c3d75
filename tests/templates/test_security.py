"""The security flags on rendered trees: PDBs, pod security, Kyverno, resource governance,
Trivy, and that every object is valid (helpers in tests/templates/security.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.validate.schemas import SchemaStore
from tests import documents
from tests.shared import CRD_SCHEMAS
from tests.templates.security import (
    ALL_ON,
    ENFORCE,
    SECURITY_OFF,
    SINGLE_NODE,
    TUNNEL,
    Tree,
    Trees,
    dig,
    find,
    helm_values,
    kustomization_problems,
    namespaces,
    objects,
    of_kind,
)
from tests.templates.security_charts import CHART_LABELS, REPLICAS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Trees:
    return Trees(tmp_path_factory)


@pytest.mark.parametrize("changes", [SECURITY_OFF, {**SECURITY_OFF, **SINGLE_NODE}])
def test_flags_off_leave_no_trace(tree: Callable[..., Tree], changes: dict[str, Any]) -> None:
    files = tree(changes)
    kinds = {d["kind"] for _, d in objects(files)}
    owned = {"CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy", "PodDisruptionBudget"}
    owned |= {"ClusterPolicy", "ResourceQuota", "LimitRange"}
    assert not kinds & owned
    assert not [p for p in files if "kyverno" in p or "trivy" in p or "resource-governance" in p]
    for name, ns in namespaces(files).items():
        labels = ns["metadata"].get("labels") or {}
        assert not [k for k in labels if k.startswith("pod-security")], name


@pytest.mark.parametrize("changes", [ALL_ON, ENFORCE, {**ENFORCE, **TUNNEL}, SECURITY_OFF])
def test_kustomizations_list_exactly_the_rendered_files(
    tree: Callable[..., Tree], changes: dict[str, Any]
) -> None:
    files = tree(changes)
    # The whole tree: each namespace's network-policies/ is listed from kube-system's.
    assert kustomization_problems(files, "kubernetes/") == []


@pytest.mark.parametrize("changes", [{}, {**ENFORCE, **TUNNEL}])
def test_budgets_select_chart_labels_and_never_block_a_drain(
    tree: Callable[..., Tree], changes: dict[str, Any]
) -> None:
    files = tree(changes)
    budgets = of_kind(files, "PodDisruptionBudget")
    assert {b["metadata"]["name"] for b in budgets} >= {
        "coredns",
        "cert-manager",
        "cert-manager-webhook",
        "envoy-gateway",
        "envoy-internal",
    }
    for budget in budgets:
        name = budget["metadata"]["name"]
        labels, source = CHART_LABELS[name]
        assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items(), source
        kind, owner, path = REPLICAS[name]
        replicas = dig(find(files, kind, owner), path)
        assert replicas == 3 and budget["spec"]["maxUnavailable"] == 1
        assert "minAvailable" not in budget["spec"]


@pytest.mark.parametrize("changes", [SINGLE_NODE, {**ENFORCE, **TUNNEL, **SINGLE_NODE}])
def test_a_single_replica_gets_no_budget(
    tree: Callable[..., Tree], changes: dict[str, Any]
) -> None:
    files = tree(changes)
    assert of_kind(files, "PodDisruptionBudget") == []
    for _name, (kind, owner, path) in REPLICAS.items():
        if [d for d in of_kind(files, kind) if d["metadata"]["name"] == owner]:
            assert dig(find(files, kind, owner), path) == 1
    if changes.get("features.policy_engine.enabled"):
        kyverno = helm_values(files, "kyverno")
        for controller in ("admission", "background", "cleanup", "reports"):
            values = kyverno[f"{controller}Controller"]
            assert values["replicas"] == 1 and values["podDisruptionBudget"]["enabled"] is False


def test_kyverno_budgets_follow_the_flag(tree: Callable[..., Tree]) -> None:
    on = helm_values(tree(ALL_ON), "kyverno")["admissionController"]
    off = helm_values(tree({**ALL_ON, "features.pod_disruption_budgets.enabled": False}), "kyverno")
    # minAvailable 0 (read as unset): the chart's default (1) beside maxUnavailable fails its
    # PDB helper.
    assert on["replicas"] == 3 and on["podDisruptionBudget"] == {
        "enabled": True,
        "minAvailable": 0,
        "maxUnavailable": 1,
        "unhealthyPodEvictionPolicy": "AlwaysAllow",
    }
    assert off["admissionController"]["podDisruptionBudget"]["enabled"] is False
    assert off["admissionController"]["podDisruptionBudget"]["maxUnavailable"] == 1


PRIVILEGED = {"kube-system", "observability", "velero"}


@pytest.mark.parametrize("level", ["baseline", "restricted"])
def test_every_namespace_carries_pod_security_labels(tree: Callable[..., Tree], level: str) -> None:
    files = tree({**ALL_ON, "features.pod_security.level": level})
    rendered = namespaces(files)
    assert {"kyverno", "trivy-system", "observability", "velero"} <= set(rendered)
    for name, ns in rendered.items():
        labels = ns["metadata"]["labels"]
        modes = {labels[f"pod-security.kubernetes.io/{m}"] for m in ("enforce", "audit", "warn")}
        assert modes == ({"privileged"} if name in PRIVILEGED else {level}), name
        if name in PRIVILEGED:
            text = next(c for p, c in files.items() if p.endswith(f"{name}/namespace.yaml"))
            assert b"# " in text.split(b"labels:")[1], f"{name}: privileged without a reason"


@pytest.mark.parametrize("mode,action", [("audit", "Audit"), ("enforce", "Enforce")])
def test_kyvernopolicies(tree: Callable[..., Tree], mode: str, action: str) -> None:
    registries = ["ghcr.io", "quay.io"]
    files = tree(
        {
            **ALL_ON,
            "features.policy_engine.mode": mode,
            "features.policy_engine.allowed_registries": registries,
        }
    )
    policies = {p["metadata"]["name"]: p for p in of_kind(files, "ClusterPolicy")}
    assert set(policies) == {
        "disallow-privileged-containers",
        "require-requests-limits",
        "disallow-latest-tag",
        "restrict-image-registries",
        "require-labels",
    }
    for policy in policies.values():
        assert "validationFailureAction" not in policy["spec"]  # deprecated
        for rule in policy["spec"]["rules"]:
            assert rule["validate"]["failureAction"] == action
            excluded = set(rule["exclude"]["any"][0]["resources"]["namespaces"])
            assert {"kube-system", "flux-system", "kyverno", "trivy-system"} <= excluded
            assert "default" not in excluded
    pattern = policies["restrict-image-registries"]["spec"]["rules"][0]["validate"]["pattern"]
    assert pattern["spec"]["containers"] == [{"image": "ghcr.io/* | quay.io/*"}]


def test_resource_governance_values_come_from_the_config(tree: Callable[..., Tree]) -> None:
    files = tree(
        {
            **ALL_ON,
            "features.resource_governance.quota.pods": 7,
            "features.resource_governance.limits.default_memory": "1Gi",
        }
    )
    quota = find(files, "ResourceQuota", "resource-governance")["spec"]["hard"]
    assert quota["pods"] == "7" and quota["requests.memory"] == "8Gi"
    limits = find(files, "LimitRange", "resource-governance")["spec"]["limits"][0]
    assert limits["default"]["memory"] == "1Gi" and limits["defaultRequest"]["cpu"] == "100m"


def test_trivy_dashboard_and_alert_only_with_monitoring(tree: Callable[..., Tree]) -> None:
    with_monitoring = tree(ALL_ON)
    board = find(with_monitoring, "ConfigMap", "trivy-operator-dashboard")
    assert json.loads(board["data"]["trivy-operator.json"])["panels"]
    rule = find(with_monitoring, "PrometheusRule", "vulnerabilities")
    alert = rule["spec"]["groups"][0]["rules"][0]
    assert 'severity="Critical"' in alert["expr"]
    anchor = alert["annotations"]["runbook_url"].rsplit("/", 1)[1]
    page, heading = anchor.split("#")
    assert (
        f"## {alert['alert']}".lower() in with_monitoring[f"docs/runbooks/{page}"].decode().lower()
    )
    assert heading == alert["alert"].lower()
    assert helm_values(with_monitoring, "trivy-operator")["serviceMonitor"]["enabled"] is True

    without = tree(
        {
            **ALL_ON,
            "features.monitoring.enabled": False,
            "features.monitoring.logs.enabled": False,
            "features.monitoring.tracing.enabled": False,
        }
    )
    assert not [
        d
        for d in of_kind(without, "ConfigMap", "PrometheusRule")
        if "trivy" in d["metadata"]["name"] or d["metadata"]["name"] == "vulnerabilities"
    ]
    assert helm_values(without, "trivy-operator")["serviceMonitor"]["enabled"] is False
    assert "docs/runbooks/vulnerabilities.md" not in without


@pytest.fixture(scope="module")
def schemas() -> SchemaStore:
    return SchemaStore([str(CRD_SCHEMAS)], cache_dir=Path("/nonexistent"))


@pytest.mark.parametrize("changes", [ALL_ON, {**ENFORCE, **TUNNEL}])
def test_every_object_is_valid_for_the_api(
    tree: Callable[..., Tree], schemas: SchemaStore, changes: dict[str, Any]
) -> None:
    files = tree(changes)
    mine = {
        p: c
        for p, c in files.items()
        if "network-policies" in p
        or "disruption-budgets" in p
        or "kyverno" in p
        or "trivy" in p
        or "resource-governance" in p
        or p.endswith("namespace.yaml")
    }
    checked = set()
    for path, doc in objects(mine):
        text = documents.dump(doc).replace("${SECRET_DOMAIN}", "example.com")
        result = schemas.check(documents.load(text))
        assert result.found, f"{path}: no schema for {doc['apiVersion']} {doc['kind']}"
        assert result.errors == [], f"{path}: {result.errors}"
        checked.add(doc["kind"])
    assert checked >= {
        "CiliumNetworkPolicy",
        "CiliumClusterwideNetworkPolicy",
        "PodDisruptionBudget",
        "ClusterPolicy",
        "ResourceQuota",
        "LimitRange",
        "HelmRelease",
        "OCIRepository",
        "Kustomization",
        "Namespace",
        "PrometheusRule",
        "ConfigMap",
    }


@pytest.mark.parametrize("changes", [SECURITY_OFF, ALL_ON, {**ENFORCE, **TUNNEL, **SINGLE_NODE}])
def test_namespaces_list_the_security_apps_with_their_flags(
    tree: Callable[..., Tree], changes: dict[str, Any]
) -> None:
    files = tree(changes)
    kube_system = yaml.safe_load(files["kubernetes/apps/kube-system/kustomization.yaml"])
    default = yaml.safe_load(files["kubernetes/apps/default/kustomization.yaml"])
    on = dict(SECURITY_OFF)
    on.update({k: v for k, v in changes.items() if k in SECURITY_OFF})
    budgets = on["features.pod_disruption_budgets.enabled"] and "nodes" not in changes
    wanted = {
        "./network-policies/ks.yaml": on["features.network_policies.enabled"],
        "./disruption-budgets/ks.yaml": budgets,
    }
    for entry, expected in wanted.items():
        assert (entry in kube_system["resources"]) is expected, entry
        assert (f"kubernetes/apps/kube-system/{entry[2:]}" in files) is expected, entry
    governance = "../../components/resource-governance" in default["components"]
    assert governance is on["features.resource_governance.enabled"]
