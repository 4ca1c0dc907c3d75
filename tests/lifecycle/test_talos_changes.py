"""What configure says about a change to talos/ (generator/lifecycle/talos_changes.py)."""

from __future__ import annotations

from pathlib import Path

from generator.lifecycle.talos_changes import (
    NEXT_STEP,
    TALENV,
    UPGRADE_STEP,
    fixed_networks,
    next_step,
)

TALCONFIG = "talos/talconfig.yaml"


def test_a_change_under_talos_says_to_apply_it() -> None:
    assert next_step([], [TALCONFIG]) == [NEXT_STEP]
    assert next_step([], ["talos/patches/controller/cluster.yaml"]) == [NEXT_STEP]
    assert next_step(["talos/patches/worker/new.yaml"], []) == [NEXT_STEP]
    assert NEXT_STEP.startswith("talos/ changed: apply it node by node: uv run task ")


def test_a_new_version_in_talenv_says_to_upgrade() -> None:
    """An apply would only record the new installer; the upgrade commands install it."""
    assert next_step([], [TALENV]) == [UPGRADE_STEP]
    assert next_step([], [TALENV, TALCONFIG]) == [NEXT_STEP, UPGRADE_STEP]
    assert "uv run task talos:upgrade-nodes" in UPGRADE_STEP


def test_the_first_render_and_other_changes_say_nothing() -> None:
    assert next_step([TALCONFIG, TALENV], []) == []  # the bootstrap is next
    assert next_step([], ["kubernetes/apps/kube-system/cilium/app/helmrelease.yaml"]) == []
    assert next_step([], []) == []


def _talconfig(pods: str, services: str) -> bytes:
    text = f"---\nclusterName: home\nclusterPodNets: [{pods!r}]\nclusterSvcNets: [{services!r}]\n"
    return text.encode()


def _repo(tmp_path: Path, *, secret: bool) -> Path:
    (tmp_path / "talos").mkdir()
    (tmp_path / TALCONFIG).write_bytes(_talconfig("10.42.0.0/16", "10.43.0.0/16"))
    if secret:
        (tmp_path / "talos/talsecret.sops.yaml").write_text("---\n")
    (tmp_path / "cluster.yaml").write_text(
        "---\nkubernetes:\n  pod_cidr: 10.50.0.0/16\n  service_cidr: 10.43.0.0/16\n"
    )
    return tmp_path


def test_a_changed_network_of_a_running_cluster_is_a_warning_at_its_key(tmp_path: Path) -> None:
    repo = _repo(tmp_path, secret=True)
    rendered = {TALCONFIG: _talconfig("10.50.0.0/16", "10.43.0.0/16")}
    (problem,) = fixed_networks(repo, rendered, repo / "cluster.yaml")
    assert str(problem) == (
        "cluster.yaml:3:3 kubernetes.pod_cidr: 10.50.0.0/16 differs from 10.42.0.0/16 in "
        "talos/talconfig.yaml: a running cluster cannot change it (its nodes and Services "
        "keep their addresses from the old one, while Flux moves Cilium to the new one at "
        "once, and pod networking breaks); put back 10.42.0.0/16, or rebuild the cluster "
        "(uv run task talos:reset, then uv run task bootstrap:talos)"
    )
    both = {TALCONFIG: _talconfig("10.50.0.0/16", "10.60.0.0/16")}
    keys = [p.key for p in fixed_networks(repo, both, repo / "cluster.yaml")]
    assert keys == ["kubernetes.pod_cidr", "kubernetes.service_cidr"]
    same = {TALCONFIG: _talconfig("10.42.0.0/16", "10.43.0.0/16")}
    assert fixed_networks(repo, same, repo / "cluster.yaml") == []


def test_before_the_cluster_exists_a_network_may_change(tmp_path: Path) -> None:
    """No Talos secret yet: nothing was bootstrapped with the old network."""
    repo = _repo(tmp_path, secret=False)
    rendered = {TALCONFIG: _talconfig("10.50.0.0/16", "10.43.0.0/16")}
    assert fixed_networks(repo, rendered, repo / "cluster.yaml") == []


def test_a_missing_or_unreadable_talconfig_is_no_warning(tmp_path: Path) -> None:
    """Validation and the writer judge those; this check only compares networks."""
    repo = _repo(tmp_path, secret=True)
    rendered = {TALCONFIG: _talconfig("10.50.0.0/16", "10.43.0.0/16")}
    (repo / TALCONFIG).write_text("clusterPodNets: [\n")
    assert fixed_networks(repo, rendered, repo / "cluster.yaml") == []
    (repo / TALCONFIG).unlink()
    assert fixed_networks(repo, rendered, repo / "cluster.yaml") == []
