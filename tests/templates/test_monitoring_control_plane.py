"""features.monitoring and the control plane: etcd, kube-controller-manager and kube-scheduler
are scraped by each stack at the controllers' addresses with their alert rules on, the network
policies let the scrapers reach them, and down targets raise alerts (helpers in security.py).

Chart keys: prometheus-community/helm-charts@kube-prometheus-stack-88.5.3
(charts/kube-prometheus-stack/values.yaml, templates/exporters/kube-{etcd,controller-manager,
scheduler}/) and VictoriaMetrics/helm-charts@victoria-metrics-k8s-stack-0.91.2
(charts/victoria-metrics-k8s-stack/values.yaml, templates/servicemonitors.yaml).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.rendering import sample_with
from tests.templates.security import ALL_ON, ENFORCE, Tree, Trees, find, helm_values, of_kind

pytestmark = pytest.mark.slow

CONTROLLERS = [n["address"] for n in sample_with({})["nodes"] if n["controller"]]
# Control-plane metrics ports on the controllers: etcd (HTTP), controller-manager, scheduler.
PORTS = {"2381", "10257", "10259"}


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Trees:
    return Trees(tmp_path_factory)


def test_sample_has_several_controllers() -> None:
    assert len(CONTROLLERS) == 3


def test_kube_prometheus_stack_scrapes_the_control_plane(tree: Callable[..., Tree]) -> None:
    values = helm_values(tree(ALL_ON), "kube-prometheus-stack")
    for component in ("kubeControllerManager", "kubeScheduler", "kubeEtcd"):
        assert values[component]["enabled"] is True, component
        assert values[component]["endpoints"] == CONTROLLERS, component
    etcd = values["kubeEtcd"]
    assert etcd["service"] == {"port": 2381, "targetPort": 2381}
    assert etcd["serviceMonitor"] == {"scheme": "http"}
    # The controller manager and scheduler keep the chart's HTTPS defaults for >= 1.22
    # (10257/10259, service account token, no verification of the self-signed certificate).
    for component in ("kubeControllerManager", "kubeScheduler"):
        assert "service" not in values[component] and "serviceMonitor" not in values[component]
    rules = values["defaultRules"]["rules"]
    for group in ("etcd", "kubeControllerManager", "kubeSchedulerAlerting"):
        assert rules[group] is True, group
    assert rules["kubeSchedulerRecording"] is True
    assert values["kubeProxy"] == {"enabled": False} and rules["kubeProxy"] is False


def test_victoria_metrics_scrapes_the_control_plane(tree: Callable[..., Tree]) -> None:
    values = helm_values(
        tree({**ALL_ON, "features.monitoring.stack": "victoria-metrics"}), "victoria-metrics"
    )
    for component in ("kubeControllerManager", "kubeScheduler", "kubeEtcd"):
        assert values[component]["enabled"] is True, component
        assert values[component]["endpoints"] == CONTROLLERS, component
    for component in ("kubeControllerManager", "kubeScheduler"):
        # The chart's default verifies serverName `kubernetes`, which the self-signed
        # serving certificates of Talos' control plane do not carry.
        assert values[component]["vmScrape"]["spec"]["endpoints"] == [
            {
                "bearerTokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token",
                "port": "http-metrics",
                "scheme": "https",
                "tlsConfig": {"insecureSkipVerify": True},
            }
        ]
        assert "service" not in values[component]  # 10257 / 10259 are the chart's defaults
    etcd = values["kubeEtcd"]
    # The chart's default is HTTPS on 2379 with client certificates.
    assert etcd["service"] == {"port": 2381, "targetPort": 2381}
    assert etcd["vmScrape"]["spec"]["endpoints"] == [{"port": "http-metrics", "scheme": "http"}]
    groups = values["defaultRules"]["groups"]
    for group in ("etcd", "kubernetes-system-controller-manager", "kubernetes-system-scheduler"):
        assert groups[group] == {"enabled": True}, group


@pytest.mark.parametrize("stack", ["kube-prometheus-stack", "victoria-metrics"])
def test_down_targets_and_monitoring_components_alert(
    tree: Callable[..., Tree], stack: str
) -> None:
    files = tree({**ALL_ON, "features.monitoring.stack": stack})
    rules = {
        r["alert"]: r
        for r in find(files, "PrometheusRule", "targets")["spec"]["groups"][0]["rules"]
    }
    assert set(rules) == {"TargetDown", "MonitoringComponentDown", "KubeStateMetricsDown"}
    assert "(up == 0)" in rules["TargetDown"]["expr"] and "> 10" in rules["TargetDown"]["expr"]
    assert rules["TargetDown"]["labels"]["severity"] == "warning"
    assert rules["MonitoringComponentDown"]["expr"] == 'up{namespace="observability"} == 0'
    assert rules["MonitoringComponentDown"]["labels"]["severity"] == "critical"
    assert rules["KubeStateMetricsDown"]["expr"] == 'absent(up{job="kube-state-metrics"} == 1)'
    # The charts' own general groups (TargetDown plus a second Watchdog) stay off; their
    # groups watching the stack's own parts stay on (chart default: on).
    values = helm_values(files, stack)
    if stack == "kube-prometheus-stack":
        chart_rules = values["defaultRules"]["rules"]
        assert chart_rules["general"] is False
        for group in ("alertmanager", "prometheus", "prometheusOperator", "configReloaders"):
            assert chart_rules.get(group, True) is True, group
    else:
        groups = values["defaultRules"]["groups"]
        assert groups["general.rules"] == {"enabled": False}
        for group in ("alertmanager.rules", "vmagent", "vmalert", "vmsingle", "vmoperator"):
            assert groups.get(group, {}).get("enabled", True) is True, group


def allows_nodes_on(rule: dict[str, Any], ports: set[str]) -> bool:
    """Whether an egress rule reaches the nodes (host and remote-node identities, which
    Cilium's `cluster` entity includes) on every port of `ports`."""
    entities = set(rule.get("toEntities", []))
    if not ("cluster" in entities or {"host", "remote-node"} <= entities):
        return False
    if "toPorts" not in rule:
        return True
    allowed = {p["port"] for spec in rule["toPorts"] for p in spec["ports"]}
    return ports <= allowed


@pytest.mark.parametrize("changes", [ALL_ON, ENFORCE])
def test_scrapers_may_reach_the_control_plane_on_the_host_network(
    tree: Callable[..., Tree], changes: dict[str, Any]
) -> None:
    files = tree(changes)
    scrapers = [
        p
        for p in of_kind(files, "CiliumNetworkPolicy")
        if p["metadata"]["namespace"] == "observability"
    ]
    egress = [rule for policy in scrapers for rule in policy["spec"].get("egress", [])]
    assert any(allows_nodes_on(rule, PORTS) for rule in egress)
