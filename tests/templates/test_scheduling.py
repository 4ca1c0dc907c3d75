"""Replicas sized by the nodes a workload may run on, spread over nodes, with a budget
wherever there is more than one (templates/macros/scheduling.j2, config/derive.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.rendering import render_config, sample_with, shared_templates, write_config
from tests.templates.security import ALL_ON, TUNNEL, Tree, Trees, dig, find, helm_values, of_kind
from tests.templates.security_charts import CHART_LABELS

pytestmark = pytest.mark.slow


def _workers(count: int) -> list[dict[str, Any]]:
    return [
        {
            "name": f"worker-{i}",
            "address": f"192.168.1.{31 + i}",
            "controller": False,
            "disk": "/dev/sda",
            "mac_addr": f"02:00:00:00:01:{i:02d}",
        }
        for i in range(count)
    ]


def _shape(sample_nodes: list[dict[str, Any]], controllers: int, workers: int) -> dict[str, Any]:
    return {"nodes": sample_nodes[:controllers] + _workers(workers)}


# (controllers, workers) -> (replicas of workloads that run anywhere, of control-plane ones)
SHAPES = {
    "1-controller-3-workers": ((1, 3), (3, 1)),
    "1-controller-0-workers": ((1, 0), (1, 1)),
    "3-controllers": ((3, 0), (3, 3)),
}
# Budget name -> (kind, object, replicas path, spread path, pinned to the control plane)
WORKLOADS: dict[str, tuple[str, str, str, str, bool]] = {
    "coredns": (
        "HelmRelease",
        "coredns",
        "spec.values.replicaCount",
        "spec.values.topologySpreadConstraints",
        True,
    ),
    "cilium-operator": (
        "HelmRelease",
        "cilium",
        "spec.values.operator.replicas",
        "spec.values.operator.topologySpreadConstraints",
        False,
    ),
    "cert-manager": (
        "HelmRelease",
        "cert-manager",
        "spec.values.replicaCount",
        "spec.values.topologySpreadConstraints",
        False,
    ),
    "cert-manager-webhook": (
        "HelmRelease",
        "cert-manager",
        "spec.values.webhook.replicaCount",
        "spec.values.webhook.topologySpreadConstraints",
        False,
    ),
    "envoy-gateway": (
        "HelmRelease",
        "envoy-gateway",
        "spec.values.deployment.replicas",
        "spec.values.deployment.pod.topologySpreadConstraints",
        False,
    ),
    "envoy-internal": (
        "EnvoyProxy",
        "envoy",
        "spec.provider.kubernetes.envoyDeployment.replicas",
        "spec.provider.kubernetes.envoyDeployment.pod.topologySpreadConstraints",
        False,
    ),
    "envoy-external": (
        "EnvoyProxy",
        "envoy",
        "spec.provider.kubernetes.envoyDeployment.replicas",
        "spec.provider.kubernetes.envoyDeployment.pod.topologySpreadConstraints",
        False,
    ),
    "k8s-gateway": (
        "HelmRelease",
        "k8s-gateway",
        "spec.values.replicaCount",
        "spec.values.topologySpreadConstraints",
        False,
    ),
    "cloudflare-tunnel": (
        "HelmRelease",
        "cloudflare-tunnel",
        "spec.values.controllers.cloudflare-tunnel.replicas",
        "spec.values.controllers.cloudflare-tunnel.pod.topologySpreadConstraints",
        False,
    ),
    "echo": (
        "HelmRelease",
        "echo",
        "spec.values.controllers.echo.replicas",
        "spec.values.controllers.echo.pod.topologySpreadConstraints",
        False,
    ),
}
KYVERNO = ("admission", "background", "cleanup", "reports")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Trees:
    return Trees(tmp_path_factory)


def _assert_spread(constraints: list[dict[str, Any]], labels: dict[str, str]) -> None:
    """One constraint over nodes that selects only pods the chart labels `labels`."""
    assert len(constraints) == 1
    constraint = constraints[0]
    assert constraint["topologyKey"] == "kubernetes.io/hostname"
    assert (constraint["maxSkew"], constraint["whenUnsatisfiable"]) == (1, "ScheduleAnyway")
    assert constraint["labelSelector"]["matchLabels"].items() <= labels.items()


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_replicas_spread_and_budgets_follow_the_nodes_each_workload_may_use(
    tree: Callable[..., Tree], sample: dict[str, Any], shape: str
) -> None:
    (controllers, workers), (any_node, control_plane) = SHAPES[shape]
    files = tree({**ALL_ON, **TUNNEL, **_shape(sample["nodes"], controllers, workers)})
    budgets = {b["metadata"]["name"]: b for b in of_kind(files, "PodDisruptionBudget")}
    for name, (kind, owner, replicas_path, spread_path, pinned) in WORKLOADS.items():
        workload = find(files, kind, owner)
        replicas = control_plane if pinned else any_node
        assert dig(workload, replicas_path) == replicas, name
        _assert_spread(dig(workload, spread_path), CHART_LABELS[name][0])
        assert (name in budgets) is (replicas > 1), name
    for controller in KYVERNO:
        values = helm_values(files, "kyverno")[f"{controller}Controller"]
        want = any_node if controller == "admission" else min(any_node, 2)
        assert values["replicas"] == want
        assert values["podDisruptionBudget"]["enabled"] is (want > 1)
        # The chart's PDB helper fails when minAvailable (default 1) and maxUnavailable are
        # both set (kyverno chart 3.9.0 templates/_helpers/_pdb.tpl); 0 reads as unset.
        assert values["podDisruptionBudget"]["minAvailable"] == 0
        assert values["podDisruptionBudget"]["maxUnavailable"] == 1
        labels = {
            "app.kubernetes.io/component": f"{controller}-controller",
            "app.kubernetes.io/instance": "kyverno",
            "app.kubernetes.io/part-of": "kyverno",
        }
        _assert_spread(values["topologySpreadConstraints"], labels)


def test_each_gateways_proxies_spread_on_their_own(tree: Callable[..., Tree]) -> None:
    """Both Gateways share one EnvoyProxy: the spread narrows to each Gateway's pods."""
    proxy = find(tree({**ALL_ON, **TUNNEL}), "EnvoyProxy", "envoy")
    constraint = proxy["spec"]["provider"]["kubernetes"]["envoyDeployment"]["pod"][
        "topologySpreadConstraints"
    ][0]
    assert constraint["matchLabelKeys"] == ["gateway.envoyproxy.io/owning-gateway-name"]


def test_controllers_take_workloads(tmp_path: Path) -> None:
    """replicas_any_node counts the controllers because Talos lets workloads run on them;
    if the controller patch stopped doing so, the replica rule in config/derive.py must too."""
    root = shared_templates(("talos",))
    files = render_config(write_config(sample_with({}), tmp_path), template_root=root).files
    patch = yaml.safe_load(files["talos/patches/controller/cluster.yaml"])
    assert patch["cluster"]["allowSchedulingOnControlPlanes"] is True
