"""`talos upgrade-node NODE|--all` and `talos upgrade-k8s`, safe by default.

Before each node: the health gate (generator/lifecycle/health.py) unless `force`. Then the
node's Talos version, `talosctl upgrade` to its installer image at the pinned version
(which waits for the node to reboot, up to `timeout`), `kubectl wait` until it is Ready
again (up to `timeout`) and its version after. All nodes: workers first, then controllers,
one at a time, each behind its own gate. The command lines follow talhelper's
(budimanjojo/talhelper v3.1.16 pkg/generate/command.go GenerateUpgradeCommand,
GenerateUpgradeK8sCommand).
"""

from __future__ import annotations

import time
from pathlib import Path

from generator.errors import ClusterGenError
from generator.lifecycle import NODE_TIMEOUT, TOOLS, health
from generator.lifecycle.inventory import TALCONFIG, TALENV, Inventory, Node
from generator.lifecycle.session import Uses, require, start
from generator.lifecycle.steps import Executor, Progress, Step, quiet
from generator.report import Report

# Seconds between two `kubectl wait` while the API server does not answer.
READY_RETRY_SECONDS = 10
# `talosctl upgrade-k8s` updates every control-plane component and kubelet, node by node.
_K8S_TIMEOUT = 3600.0
_NODES = Uses(files=(TALCONFIG, TALENV), pins=("talos",))
_K8S = Uses(files=(TALCONFIG, TALENV), pins=("kubernetes",))


def upgrade_nodes(
    workdir: Path,
    name: str | None,
    *,
    force: bool = False,
    timeout: int = NODE_TIMEOUT,
    dry_run: bool = False,
    progress: Progress = quiet,
) -> Report:
    """Upgrade node `name` (None: every node, workers first) to the pinned Talos version.
    ClusterGenError while the cluster is unhealthy (unless `force`), when a step fails or a
    node is not Ready within `timeout` seconds; the nodes done before are reported."""
    inventory, executor = start(workdir, _NODES, dry_run=dry_run, progress=progress)
    nodes = [inventory.node(name)] if name is not None else list(inventory.upgrade_order())
    require(inventory, executor, tools=TOOLS["upgrade-node"], needs=["talosconfig", "kubeconfig"])
    done: list[str] = []
    for node in nodes:
        try:
            done.append(_upgrade_one(executor, inventory, node, force=force, timeout=timeout))
        except ClusterGenError as err:
            if done:
                raise ClusterGenError(f"{err}\nupgraded before it: {'; '.join(done)}") from None
            raise
        if not dry_run:
            progress(done[-1])
    return Report.of(executor.lines if dry_run else done)


def _upgrade_one(executor: Executor, inventory: Inventory, node: Node, *, force: bool,
                 timeout: int) -> str:  # fmt: skip
    if force:
        executor.progress(f"skipping the health checks before {node.name} (--force)")
    else:
        health.gate(executor, inventory, doing=f"upgrade {node.name}")
    before = _version(executor, node)
    upgrade = executor.talosctl(
        "upgrade", "--nodes", node.address, "--image", inventory.installer_image(node),
        "--timeout", f"{timeout}s",
    )  # fmt: skip
    executor.run(Step(upgrade, timeout=timeout + 60.0))
    _wait_ready(executor, node, timeout)
    after = _version(executor, node)
    line = f"{node.name} ({node.address}): Talos {before} -> {after}, Ready"
    if not executor.dry_run and after != inventory.talos_version:
        raise ClusterGenError(
            f"{line}, but it should run {inventory.talos_version}: check `talosctl dmesg "
            f"--nodes {node.address}` for why the upgrade did not take"
        )
    return line


def _wait_ready(executor: Executor, node: Node, timeout: int) -> None:
    """`kubectl wait` until the node is Ready, again while the API server does not answer
    (a single controller's is down until it has rebooted), within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    remaining = timeout
    while True:
        argv = executor.kubectl(
            "wait", "--for", "condition=Ready", f"node/{node.name}", "--timeout", f"{remaining}s"
        )
        result = executor.run(Step(argv, timeout=remaining + 60.0, probe=True))
        if result is None or result.returncode == 0:
            return
        error = result.stderr.decode(errors="replace").strip().splitlines()
        if time.monotonic() + READY_RETRY_SECONDS >= deadline:
            raise ClusterGenError(
                f"{node.name} was not Ready within {timeout}s after the upgrade: "
                f"{error[-1] if error else 'kubectl wait failed'}"
            )
        executor.progress(f"{node.name} is not Ready yet; asking again in {READY_RETRY_SECONDS}s")
        time.sleep(READY_RETRY_SECONDS)
        remaining = max(1, int(deadline - time.monotonic()))


def _version(executor: Executor, node: Node) -> str:
    result = executor.run(Step(executor.talosctl("version", "--nodes", node.address)))
    if result is None:  # dry run
        return ""
    return server_tag(result.stdout.decode(errors="replace")) or "unknown"


def server_tag(output: str) -> str | None:
    """The node's Talos version from `talosctl version`: the `Tag:` under `Server:`
    (the `Client:` section above it is talosctl's own)."""
    in_server = False
    for line in output.splitlines():
        stripped = line.strip()
        if stripped.startswith("Server:"):
            in_server = True
        elif in_server and stripped.startswith("Tag:"):
            return stripped.removeprefix("Tag:").strip()
    return None


def upgrade_k8s(
    workdir: Path, *, force: bool = False, dry_run: bool = False, progress: Progress = quiet
) -> Report:
    """Upgrade Kubernetes to talenv.yaml's kubernetesVersion through the first controller,
    behind the same health gate as a node upgrade (unless `force`)."""
    inventory, executor = start(workdir, _K8S, dry_run=dry_run, progress=progress)
    require(inventory, executor, tools=TOOLS["upgrade-k8s"], needs=["talosconfig", "kubeconfig"])
    if force:
        progress("skipping the health checks (--force)")
    else:
        health.gate(executor, inventory, doing="upgrade Kubernetes")
    controller = inventory.controllers[0]
    argv = executor.talosctl(
        "upgrade-k8s", "--nodes", controller.address, "--to", inventory.kubernetes_version
    )
    executor.run(Step(argv, timeout=_K8S_TIMEOUT))
    if dry_run:
        return Report.of(executor.lines)
    return Report(f"upgraded Kubernetes to {inventory.kubernetes_version}")
