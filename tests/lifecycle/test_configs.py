"""`talos generate-config` and `talos apply-node` against stub talhelper and talosctl."""

from __future__ import annotations

import pytest

from generator.errors import ClusterGenError
from generator.lifecycle.configs import apply_node, generate_config
from tests.lifecycle import expected
from tests.lifecycle.conftest import MakeRepo
from tests.lifecycle.stubs import StubTools

GENCONFIG = (
    "talhelper genconfig --config-file talos/talconfig.yaml --secret-file "
    "talos/talsecret.sops.yaml --env-file talos/talenv.yaml --out-dir talos/clusterconfig"
)


def test_generate_config_runs_talhelper_from_the_repository(
    tools: StubTools, make_repo: MakeRepo
) -> None:
    repo = make_repo("three-plus-two")
    assert generate_config(repo, dry_run=True).text == GENCONFIG
    assert tools.calls() == []
    report = generate_config(repo)
    assert report.text == "generated talos/clusterconfig: 5 node config(s) and talosconfig"
    assert tools.calls() == [GENCONFIG]


def test_generate_config_names_every_missing_piece_at_once(
    tools: StubTools, make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo("single", live=False)
    (tools.bin / "talhelper").unlink()
    monkeypatch.setenv("PATH", str(tools.bin))
    with pytest.raises(ClusterGenError) as caught:
        generate_config(repo)
    assert str(caught.value) == (
        "cannot start; missing:\n"
        "- talhelper is not on PATH: install it "
        "(https://budimanjojo.github.io/talhelper/latest/installation/)\n"
        "- talos/talsecret.sops.yaml is missing: `uv run task talos-secret` makes it (once: it is "
        "the cluster's PKI)\n"
        "- age.key (SOPS_AGE_KEY_FILE) is missing: put back the age key you saved: talhelper "
        "decrypts talos/talsecret.sops.yaml with it"
    )
    assert tools.calls() == []


@pytest.mark.parametrize(
    ("shape", "node", "address"),
    [("single", "k8s-0", "192.168.1.10"), ("secureboot", "k8s-1", "192.168.1.11"),
     ("own-schematic", "k8s-2", "192.168.1.12"), ("three-plus-two", "w-0", "192.168.1.30")],
)  # fmt: skip
def test_apply_node_applies_its_generated_config(
    tools: StubTools, make_repo: MakeRepo, shape: str, node: str, address: str
) -> None:
    repo = make_repo(shape)
    line = (
        f"talosctl apply-config {expected.TALOSCONFIG} --nodes {address} "
        f"--file talos/clusterconfig/kubernetes-{node}.yaml --mode staged"
    )
    assert apply_node(repo, node, mode="staged", dry_run=True).text == line
    assert tools.calls() == []
    report = apply_node(repo, node, mode="staged")
    assert report.text == (
        f"applied talos/clusterconfig/kubernetes-{node}.yaml to {node} ({address}, mode staged)"
    )
    assert tools.calls() == [line]


def test_apply_node_without_generated_configs_says_how_to_make_them(
    tools: StubTools, make_repo: MakeRepo
) -> None:
    repo = make_repo("single")
    (repo / "talos/clusterconfig/kubernetes-k8s-0.yaml").unlink()
    with pytest.raises(ClusterGenError) as caught:
        apply_node(repo, "k8s-0")
    assert str(caught.value) == (
        "cannot start; missing:\n- talos/clusterconfig/kubernetes-k8s-0.yaml is missing: "
        "`uv run task talos:generate-config` writes it"
    )
    with pytest.raises(ClusterGenError, match="no node named 'k8s-1'"):
        apply_node(repo, "k8s-1")
    assert tools.calls() == []


def test_apply_node_insecure_reaches_a_node_in_maintenance_mode(
    tools: StubTools, make_repo: MakeRepo
) -> None:
    """A node booted from the ISO (or reset) has no certificates: only `--insecure` reaches
    it, and it needs no talosconfig (the talosconfig is not even there to start with)."""
    repo = make_repo("three-plus-two")
    (repo / expected.TALOSCONFIG.split()[-1]).unlink()
    line = (
        "talosctl apply-config --insecure --nodes 192.168.1.30 "
        "--file talos/clusterconfig/kubernetes-w-0.yaml --mode auto"
    )
    assert apply_node(repo, "w-0", insecure=True, dry_run=True).text == line
    report = apply_node(repo, "w-0", insecure=True)
    assert report.text == (
        "applied talos/clusterconfig/kubernetes-w-0.yaml to w-0 (192.168.1.30, "
        "mode auto, maintenance mode)"
    )
    assert tools.calls() == [line]


@pytest.mark.parametrize("mode", ["staged", "no-reboot"])
def test_apply_node_insecure_refuses_modes_maintenance_mode_rejects(
    tools: StubTools, make_repo: MakeRepo, mode: str
) -> None:
    repo = make_repo("single")
    with pytest.raises(ClusterGenError) as caught:
        apply_node(repo, "k8s-0", mode=mode, insecure=True)
    assert str(caught.value) == (
        f"--mode {mode} is not accepted in maintenance mode (--insecure); use one of auto, "
        "reboot, try, or leave --mode out"
    )
    assert tools.calls() == []
