"""`talos upgrade-node` and `talos upgrade-k8s` against stub talosctl and kubectl: the
exact command lines per config shape, the health gate, the order of an all-nodes upgrade."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.errors import ClusterGenError
from generator.lifecycle import upgrade
from generator.lifecycle.upgrade import server_tag, upgrade_k8s, upgrade_nodes
from tests.lifecycle import expected
from tests.lifecycle.conftest import MakeRepo
from tests.lifecycle.repos import (
    CLUSTER_SCHEMATIC,
    KUBERNETES_VERSION,
    OWN_SCHEMATIC,
    TALOS_VERSION,
    node_addresses,
)
from tests.lifecycle.stubs import StubTools

OLD = "v1.12.0"
CONTROLLERS = ["192.168.1.10", "192.168.1.11", "192.168.1.12"]
WORKERS = ["192.168.1.30", "192.168.1.31"]
INSTALLER = f"factory.talos.dev/metal-installer/{CLUSTER_SCHEMATIC}:{TALOS_VERSION}"


def running(tools: StubTools, repo: Path, version: str = OLD) -> None:
    """The stub cluster: every node of `repo` Ready at `version`, controllers in etcd."""
    nodes = node_addresses(repo)
    tools.healthy_cluster(nodes, [n for n in nodes if n.startswith("k8s-")], version)


@pytest.mark.parametrize(
    ("shape", "node", "address", "image"),
    [
        ("single", "k8s-0", "192.168.1.10", INSTALLER),
        ("secureboot", "k8s-1", "192.168.1.11",
         f"factory.talos.dev/metal-installer-secureboot/{CLUSTER_SCHEMATIC}:{TALOS_VERSION}"),
        ("own-schematic", "k8s-2", "192.168.1.12",
         f"factory.talos.dev/metal-installer/{OWN_SCHEMATIC}:{TALOS_VERSION}"),
        ("three-plus-two", "w-1", "192.168.1.31", INSTALLER),
    ],
)  # fmt: skip
def test_dry_run_prints_the_upgrade_and_runs_nothing(
    tools: StubTools, make_repo: MakeRepo, shape: str, node: str, address: str, image: str
) -> None:
    repo = make_repo(shape, live=False)  # no talosconfig or kubeconfig needed to look
    report = upgrade_nodes(repo, node, dry_run=True)
    controllers = ["192.168.1.10"] if shape == "single" else CONTROLLERS
    workers = WORKERS if shape == "three-plus-two" else []
    assert report.text.splitlines() == [
        *expected.gate(controllers, workers),
        *expected.upgrade(node, address, image),
    ]
    assert tools.calls() == []


def test_a_healthy_cluster_upgrades_one_node_and_reports_versions(
    tools: StubTools, make_repo: MakeRepo
) -> None:
    repo = make_repo("three-plus-two")
    running(tools, repo)
    shown: list[str] = []
    report = upgrade_nodes(repo, "k8s-1", timeout=90, progress=shown.append)
    assert report.text == f"k8s-1 (192.168.1.11): Talos {OLD} -> {TALOS_VERSION}, Ready"
    assert tools.calls() == [
        *expected.gate(CONTROLLERS, WORKERS),
        *expected.upgrade("k8s-1", "192.168.1.11", INSTALLER, timeout=90),
    ]
    assert shown == [f"$ {line}" for line in tools.calls()] + [report.text]


@pytest.mark.parametrize(
    ("state", "problem"),
    [
        ({"health": "failing"}, "talosctl health failed: waiting for all k8s nodes to report"),
        ({"etcd": {"k8s-0": False, "k8s-1": False}}, "controller k8s-2 is not an etcd member"),
        ({"etcd": {"k8s-0": False, "k8s-1": False, "k8s-2": True}},
         "etcd member k8s-2 is still a learner"),
        ({"ready": {"k8s-0": True, "k8s-1": True, "k8s-2": True, "w-0": False}},
         "node w-0 is not Ready\n- node w-1 is not registered"),
    ],
)  # fmt: skip
def test_an_unhealthy_cluster_is_refused_unless_forced(
    tools: StubTools, make_repo: MakeRepo, state: dict[str, object], problem: str
) -> None:
    repo = make_repo("three-plus-two")
    running(tools, repo)
    tools.set(**state)
    with pytest.raises(ClusterGenError) as caught:
        upgrade_nodes(repo, "k8s-0")
    message = str(caught.value)
    assert message.startswith("the cluster is not healthy, so clustergen will not upgrade k8s-0")
    assert f"- {problem}" in message
    assert message.endswith("or rerun with --force to go ahead anyway")
    assert not any(" upgrade " in call for call in tools.calls())
    assert tools.get("versions")["192.168.1.10"] == OLD

    calls_before = len(tools.calls())
    tools.set(ready={n: True for n in node_addresses(repo)})  # --force: no checks at all
    report = upgrade_nodes(repo, "k8s-0", force=True)
    assert report.text.endswith(f"Talos {OLD} -> {TALOS_VERSION}, Ready")
    assert tools.calls()[calls_before:] == expected.upgrade("k8s-0", "192.168.1.10", INSTALLER)


def test_all_nodes_go_workers_first_each_behind_the_gate(
    tools: StubTools, make_repo: MakeRepo
) -> None:
    repo = make_repo("three-plus-two")
    running(tools, repo)
    report = upgrade_nodes(repo, None)
    order = [("w-0", "192.168.1.30"), ("w-1", "192.168.1.31"), ("k8s-0", "192.168.1.10"),
             ("k8s-1", "192.168.1.11"), ("k8s-2", "192.168.1.12")]  # fmt: skip
    assert tools.calls() == [
        line
        for name, address in order
        for line in (
            *expected.gate(CONTROLLERS, WORKERS),
            *expected.upgrade(name, address, INSTALLER),
        )
    ]
    assert report.text.splitlines() == [
        f"{name} ({address}): Talos {OLD} -> {TALOS_VERSION}, Ready" for name, address in order
    ]


def test_a_node_that_stops_the_run_names_those_done_before(
    tools: StubTools, make_repo: MakeRepo
) -> None:
    repo = make_repo("three-plus-two")
    running(tools, repo)
    tools.set(never_ready=True)
    with pytest.raises(ClusterGenError) as caught:
        upgrade_nodes(repo, None, timeout=5)
    assert str(caught.value) == (
        "w-0 was not Ready within 5s after the upgrade: "
        "error: timed out waiting for the condition on nodes/x"
    )
    assert tools.calls()[-1].startswith("kubectl wait --for condition=Ready node/w-0")

    running(tools, repo)
    tools.set(never_ready=False, upgrade_fails=["192.168.1.10"])
    with pytest.raises(ClusterGenError) as caught:
        upgrade_nodes(repo, None)
    assert str(caught.value) == (
        "talosctl upgrade failed (exit 1): rpc error: code = Unavailable\n"
        f"upgraded before it: w-0 (192.168.1.30): Talos {OLD} -> {TALOS_VERSION}, Ready; "
        f"w-1 (192.168.1.31): Talos {OLD} -> {TALOS_VERSION}, Ready"
    )
    assert tools.get("versions")["192.168.1.11"] == OLD  # nothing after the failure


def test_the_wait_for_ready_outlasts_a_restarting_api_server(
    tools: StubTools, make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upgrade, "READY_RETRY_SECONDS", 0)
    repo = make_repo("single")
    running(tools, repo)
    tools.set(api_down=2)
    shown: list[str] = []
    report = upgrade_nodes(repo, "k8s-0", force=True, progress=shown.append)
    assert report.text.endswith(f"Talos {OLD} -> {TALOS_VERSION}, Ready")
    waits = [call for call in tools.calls() if call.startswith("kubectl wait")]
    assert len(waits) == 3
    assert waits[0].endswith("--timeout 600s --kubeconfig kubeconfig")
    assert shown.count("k8s-0 is not Ready yet; asking again in 0s") == 2


def test_upgrade_k8s_goes_to_the_pinned_version_through_the_first_controller(
    tools: StubTools, make_repo: MakeRepo
) -> None:
    repo = make_repo("three-plus-two")
    to = (
        f"talosctl upgrade-k8s {expected.TALOSCONFIG} --nodes 192.168.1.10 "
        f"--to {KUBERNETES_VERSION}"
    )
    assert upgrade_k8s(repo, dry_run=True).text.splitlines() == [
        *expected.gate(CONTROLLERS, WORKERS),
        to,
    ]
    assert tools.calls() == []
    running(tools, repo)
    assert upgrade_k8s(repo).text == f"upgraded Kubernetes to {KUBERNETES_VERSION}"
    assert tools.calls() == [*expected.gate(CONTROLLERS, WORKERS), to]
    tools.set(health="failing")
    with pytest.raises(ClusterGenError, match="will not upgrade Kubernetes"):
        upgrade_k8s(repo)
    assert upgrade_k8s(repo, force=True).text == f"upgraded Kubernetes to {KUBERNETES_VERSION}"


def test_missing_tools_and_files_are_named_with_how_to_get_them(
    tools: StubTools, make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo("single", live=False)
    (tools.bin / "kubectl").unlink()
    monkeypatch.setenv("PATH", str(tools.bin))
    with pytest.raises(ClusterGenError) as caught:
        upgrade_nodes(repo, "k8s-0")
    assert str(caught.value) == (
        "cannot start; missing:\n"
        "- kubectl is not on PATH: install it (https://kubernetes.io/docs/tasks/tools/)\n"
        "- talos/clusterconfig/talosconfig (TALOSCONFIG) is missing: "
        "`uv run task talos:generate-config` writes it\n"
        "- kubeconfig (KUBECONFIG) is missing: `talosctl kubeconfig --talosconfig "
        "talos/clusterconfig/talosconfig --nodes 192.168.1.10 kubeconfig` fetches it"
    )
    assert tools.calls() == []


def test_the_server_version_not_the_client() -> None:
    output = "Client:\n\tTag:         v1.13.7\nServer:\n\tNODE:        10.0.0.1\n\tTag:  v1.12.0\n"
    assert server_tag(output) == "v1.12.0"
    assert server_tag("Client:\n\tTag: v1\n") is None


@pytest.mark.parametrize("shape", ["single", "secureboot", "own-schematic", "three-plus-two"])
def test_upgrade_k8s_in_every_shape(tools: StubTools, make_repo: MakeRepo, shape: str) -> None:
    repo = make_repo(shape)
    controllers = CONTROLLERS[:1] if shape == "single" else CONTROLLERS
    workers = WORKERS if shape == "three-plus-two" else []
    to = (
        f"talosctl upgrade-k8s {expected.TALOSCONFIG} --nodes 192.168.1.10 "
        f"--to {KUBERNETES_VERSION}"
    )
    running(tools, repo)
    upgrade_k8s(repo)
    assert tools.calls() == [*expected.gate(controllers, workers), to]
