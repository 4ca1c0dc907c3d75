"""e2e.sh, each step against stub tools (tests/e2e/conftest.py): what it runs, in which
order, and that a failure stops it, except in diagnostics, which never stops."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from generator.command import run
from generator.config import load_cluster
from tests.e2e.conftest import SCRIPT, Run


def test_passes_shellcheck() -> None:
    shellcheck = Path(sys.executable).parent / "shellcheck"
    result = subprocess.run(
        [str(shellcheck), "--severity=style", str(SCRIPT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_unknown_step_is_a_usage_error(e2e: Run) -> None:
    outcome = e2e("deploy-everything")
    assert outcome.returncode == 2
    assert "usage:" in outcome.stderr and outcome.calls == []


def test_prepare_discovers_the_nodes_and_renders_a_valid_config(e2e: Run) -> None:
    outcome = e2e("prepare", "sample")
    assert outcome.returncode == 0, outcome.stderr
    # Each node's maintenance API, without credentials: the nodes have no config yet.
    talos = [c for c in outcome.calls if c.startswith("talosctl")]
    assert talos == [
        f"talosctl --nodes {ip} get {what} --insecure --output json"
        for ip in ("10.9.0.2", "10.9.0.3")
        for what in ("links", "disks")
    ]
    uv = [c for c in outcome.calls if c.startswith("uv")]
    assert uv[1:] == ["uv run --frozen clustergen init", "uv run --frozen clustergen configure"]
    config = outcome.work / "cluster.yaml"
    nodes = yaml.safe_load(config.read_text())["nodes"]
    assert nodes == [
        {
            "name": "e2e-0",
            "address": "10.9.0.2",
            "controller": True,
            "disk": "/dev/vda",
            "mac_addr": "aa:bb:cc:00:00:02",
        },
        {
            "name": "e2e-1",
            "address": "10.9.0.3",
            "controller": False,
            "disk": "/dev/vda",
            "mac_addr": "aa:bb:cc:00:00:03",
        },
    ]
    # The real config loader takes it: defaults, rules and all.
    cluster = load_cluster(config)
    assert cluster.values["repository"]["url"] == "http://10.9.0.1:8418/repo.git"


def test_prepare_refuses_an_unknown_variant(e2e: Run) -> None:
    outcome = e2e("prepare", "nope")
    assert outcome.returncode == 1
    assert "no variant nope" in outcome.stderr
    assert not (outcome.work / "cluster.yaml").exists()


def test_prepare_stops_when_a_node_has_no_disk(e2e: Run, tmp_path: Path) -> None:
    # A stub talosctl that knows no disks.
    stub = tmp_path / "stubs" / "talosctl"
    stub.write_text(stub.read_text().replace('"readonly": false', '"readonly": true'))
    outcome = e2e("prepare", "sample")
    assert outcome.returncode == 1
    assert "10.9.0.2: no writable disk" in outcome.stderr
    assert not [c for c in outcome.calls if "clustergen" in c]


def test_publish_pushes_the_rendered_tree(e2e: Run, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    run(["git", "init", "--quiet", "--bare", remote])
    work = tmp_path / "work"
    (work / "kubernetes/flux/cluster").mkdir(parents=True)
    (work / "kubernetes/flux/cluster/ks.yaml").write_text("kind: Kustomization\n")
    (work / "age.key").write_text("AGE-SECRET-KEY-1NOTAKEY\n")
    outcome = e2e("publish", env={"E2E_GIT_PUSH_URL": str(remote)})
    assert outcome.returncode == 0, outcome.stderr
    listed = (
        run(["git", "ls-tree", "-r", "--name-only", "main"], cwd=remote).stdout.decode().split()
    )
    # Only the tree Flux syncs; the key files never leave the runner.
    assert listed == ["kubernetes/flux/cluster/ks.yaml"]


def test_bootstrap_runs_the_users_tasks_in_order(e2e: Run) -> None:
    outcome = e2e("bootstrap")
    assert outcome.returncode == 0, outcome.stderr
    assert outcome.calls == [
        "uv run --frozen task bootstrap:talos",
        "uv run --frozen task bootstrap:apps",
    ]


def test_bootstrap_stops_at_the_first_failure(e2e: Run) -> None:
    outcome = e2e("bootstrap", env={"STUB_UV_RC": "1"})
    assert outcome.returncode == 1
    assert outcome.calls == ["uv run --frozen task bootstrap:talos"]


def test_wait_waits_for_every_kustomization_and_helmrelease(e2e: Run) -> None:
    outcome = e2e("wait")
    assert outcome.returncode == 0, outcome.stderr
    waits = [c.split(" --timeout=")[0] for c in outcome.calls if " wait " in c]
    assert waits == [
        "kubectl wait nodes --all --for=condition=Ready",
        "kubectl --namespace flux-system wait fluxinstance/flux --for=condition=Ready",
        "kubectl wait gitrepositories --all --all-namespaces --for=condition=Ready",
        "kubectl wait kustomizations --all --all-namespaces --for=condition=Ready",
        "kubectl wait helmreleases --all --all-namespaces --for=condition=Ready",
    ]
    assert all(c.endswith("--timeout=20m") for c in outcome.calls if " wait " in c)


def test_wait_fails_when_something_never_gets_ready(e2e: Run) -> None:
    outcome = e2e("wait", env={"STUB_KUBECTL_RC": "1"})
    assert outcome.returncode == 1
    assert len(outcome.calls) == 1


def test_diagnostics_collect_everything_even_when_every_tool_fails(
    e2e: Run, tmp_path: Path
) -> None:
    out = tmp_path / "diagnostics"
    failing = {f"STUB_{t}_RC": "1" for t in ("KUBECTL", "FLUX", "TALOSCTL", "DOCKER")}
    outcome = e2e("diagnostics", str(out), env=failing)
    assert outcome.returncode == 0, outcome.stderr
    tools = {c.split()[0] for c in outcome.calls}
    assert tools == {"kubectl", "flux", "talosctl", "docker"}
    for ip in ("10.9.0.2", "10.9.0.3"):
        assert f"talosctl --nodes {ip} dmesg" in outcome.calls
    assert "kubectl describe kustomizations,helmreleases --all-namespaces" in outcome.calls
    assert {p.name for p in out.iterdir()} >= {"flux-all.txt", "events.txt", "pods.txt"}


def test_nodes_json_is_what_cluster_config_reads(e2e: Run, tmp_path: Path) -> None:
    e2e("prepare", "all-features")
    nodes = json.loads((tmp_path / "state" / "nodes.json").read_text())
    assert [n["controller"] for n in nodes] == [True, False]


def test_runner_setup_installs_qemu_and_adds_swap(e2e: Run) -> None:
    outcome = e2e("runner-setup")
    assert outcome.returncode == 0, outcome.stderr
    assert all(c.startswith("sudo ") for c in outcome.calls)
    assert any("apt-get install" in c and "qemu-system-x86" in c for c in outcome.calls)
    assert outcome.calls[-1] == "sudo swapon /mnt/e2e-swapfile"


def test_git_server_waits_until_it_answers(e2e: Run, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    run(["git", "init", "--quiet", "--bare", remote])
    outcome = e2e("git-server", env={"E2E_GIT_PUSH_URL": str(remote)})
    assert outcome.returncode == 0, outcome.stderr
    docker = outcome.calls[0]  # the container's script spans several lines
    assert [c for c in outcome.calls if c.startswith("docker ")] == [docker]
    assert docker.startswith("docker run --detach --rm --name clustergen-e2e-git")
    assert "--publish 8418:23232" in docker
