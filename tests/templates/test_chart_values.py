"""Every HelmRelease's values are ones its chart reads, in combinations its templates
accept (charts read at the versions in tests/templates/chart_values.py). The chart itself
cannot run here: each test pins what reading its templates showed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.templates.chart_values import TOP_LEVEL_KEYS
from tests.templates.security import (
    ALL_ON,
    SINGLE_NODE,
    TUNNEL,
    Tree,
    Trees,
    dig,
    helm_values,
    of_kind,
)

pytestmark = pytest.mark.slow

VARIANTS: dict[str, dict[str, Any]] = {
    "kube-prometheus-stack": {**ALL_ON, **TUNNEL},
    "victoria-metrics": {**ALL_ON, "features.monitoring.stack": "victoria-metrics"},
    "single-node": {**ALL_ON, **SINGLE_NODE},
}
# Cilium's repository is over the fetch size limit; its values were read from the search
# index at an untagged commit, so its keys are checked one by one (SPELLED, budgets).
UNREAD = {"cilium"}


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Trees:
    return Trees(tmp_path_factory)


@pytest.fixture(params=sorted(VARIANTS))
def files(request: pytest.FixtureRequest, tree: Callable[..., Tree]) -> Tree:
    return tree(VARIANTS[request.param])


def test_every_top_level_value_is_one_the_chart_reads(files: Tree) -> None:
    for release in of_kind(files, "HelmRelease"):
        name = release["metadata"]["name"]
        if name in UNREAD:
            continue
        assert name in TOP_LEVEL_KEYS, f"{name}: read its chart, add it to chart_values.py"
        source, keys = TOP_LEVEL_KEYS[name]
        unread = set(release["spec"].get("values") or {}) - keys
        assert not unread, f"{name}: {sorted(unread)} are not values of {source}"


# Nested keys whose spelling the chart does not forgive: (release, dotted path, chart source).
SPELLED: list[tuple[str, str, str]] = [
    ("cilium", "cgroup.autoMount.enabled", "cilium values.yaml: camelCase autoMount"),
    ("cert-manager", "prometheus.servicemonitor.enabled", "cert-manager v1.21.1: lowercase"),
    ("reloader", "reloader.readOnlyRootFileSystem", "Reloader chart-v2.2.16: FileSystem"),
    ("flux-operator", "serviceMonitor.create", "flux-operator chart: create, not enabled"),
    ("envoy-gateway", "deployment.pod.topologySpreadConstraints", "gateway-helm v1.9.0"),
    ("cilium", "operator.topologySpreadConstraints", "cilium-operator/deployment.yaml"),
    ("cilium", "localRedirectPolicies.enabled", "cilium values: localRedirectPolicy is deprecated"),
    ("cilium", "prometheus.serviceMonitor.trustCRDsExist", "cilium values.yaml"),
]


@pytest.mark.parametrize(("release", "path", "source"), SPELLED)
def test_keys_are_spelled_as_the_chart_reads_them(
    tree: Callable[..., Tree], release: str, path: str, source: str
) -> None:
    values = helm_values(tree(VARIANTS["kube-prometheus-stack"]), release)
    try:
        dig(values, path)
    except KeyError:
        pytest.fail(f"{release}: {path} is not set ({source})")


def test_kyverno_budgets_set_one_bound(files: Tree) -> None:
    """kyverno chart 3.9.0 templates/_helpers/_pdb.tpl fails the install when minAvailable
    (default 1) and maxUnavailable are both truthy; the chart adds the budget of any
    controller with more than one replica, whatever podDisruptionBudget.enabled says."""
    values = helm_values(files, "kyverno")
    for controller in ("admission", "background", "cleanup", "reports"):
        budget = values[f"{controller}Controller"]["podDisruptionBudget"]
        assert budget["maxUnavailable"] == 1
        # Falsy for the helper's `and`, and never rendered beside maxUnavailable.
        assert budget["minAvailable"] == 0


def _nulls(value: Any, path: str = "") -> list[str]:
    if isinstance(value, dict):
        return [n for k, v in value.items() for n in _nulls(v, f"{path}.{k}" if path else k)]
    if isinstance(value, list):
        return [n for i, v in enumerate(value) for n in _nulls(v, f"{path}[{i}]")]
    return [path] if value is None else []


def test_no_value_relies_on_null_to_unset_a_default(files: Tree) -> None:
    """Helm deletes a default set to null, but the API server drops null values from a
    HelmRelease before helm-controller reads them (fluxcd/flux2#3298,
    fluxcd/helm-controller#319): the chart's default silently comes back. Unset with a
    value the chart reads as unset instead (0, "", false, [])."""
    for release in of_kind(files, "HelmRelease"):
        values = release["spec"].get("values") or {}
        assert _nulls(values) == [], release["metadata"]["name"]


def test_each_pod_has_at_most_one_budget(files: Tree) -> None:
    """Two budgets selecting one pod make every eviction of it fail, so a workload with a
    budget of ours keeps its chart's own off (charts' defaults read at their pinned tags)."""
    ours = {b["metadata"]["name"] for b in of_kind(files, "PodDisruptionBudget")}
    # The chart renders one only with podDisruptionBudget.enabled (cilium operator
    # poddisruptionbudget.yaml; cert-manager poddisruptionbudget.yaml, default false).
    cilium = helm_values(files, "cilium")["operator"]
    assert cilium.get("podDisruptionBudget", {}).get("enabled") is False
    cert_manager = helm_values(files, "cert-manager")
    assert cert_manager.get("podDisruptionBudget", {}).get("enabled", False) is False
    assert cert_manager["webhook"].get("podDisruptionBudget", {}).get("enabled", False) is False
    # gateway-helm v1.9.0 renders one when minAvailable or maxUnavailable is >= 1 (default 0);
    # coredns renders one when podDisruptionBudget is non-empty (default {}).
    assert "podDisruptionBudget" not in helm_values(files, "envoy-gateway")
    assert "podDisruptionBudget" not in helm_values(files, "coredns")
    # Kyverno's budgets are the chart's own, never ours.
    assert not {n for n in ours if n.startswith("kyverno")}


def test_mutually_exclusive_values_are_never_both_set(files: Tree) -> None:
    prometheus = helm_values(files, "cert-manager").get("prometheus", {})
    # cert-manager v1.21.1 servicemonitor.yaml / podmonitor.yaml: one or the other.
    assert not (
        prometheus.get("servicemonitor", {}).get("enabled")
        and prometheus.get("podmonitor", {}).get("enabled")
    )
    dns = [r for r in of_kind(files, "HelmRelease") if r["metadata"]["name"] == "cloudflare-dns"]
    for release in dns:
        # external-dns chart 1.21.1 deployment.yaml: txtPrefix and txtSuffix exclude each other.
        assert not (
            "txtPrefix" in release["spec"]["values"] and "txtSuffix" in release["spec"]["values"]
        )
    loki = helm_values(files, "loki")
    # loki 7.0.0 validate.yaml: filesystem storage allows one single-binary replica and no
    # scalable targets; the Helm test needs the canary.
    assert loki["loki"]["storage"]["type"] == "filesystem"
    assert loki["singleBinary"]["replicas"] == 1
    assert [loki[t]["replicas"] for t in ("backend", "read", "write")] == [0, 0, 0]
    assert not (loki["test"]["enabled"] and not loki["lokiCanary"]["enabled"])
    gateway = helm_values(files, "k8s-gateway")
    # k8s-gateway 3.7.2 rbac.yaml and configmap.yaml fail without these.
    assert gateway["watchedResources"] and gateway["domain"]
