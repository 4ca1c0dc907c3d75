"""Is the cluster healthy enough to take one node away? Three questions, each a command:

- `talosctl health` against the first controller, naming every node: Talos' own checks
  (etcd, kubelet, API server, every node Ready) within a bounded wait;
- `talosctl etcd members`: every controller is a voting etcd member (none missing, none
  a learner);
- `kubectl get nodes`: every node of cluster.yaml is registered and Ready.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from generator.errors import ClusterGenError
from generator.lifecycle.inventory import Inventory
from generator.lifecycle.steps import Executor, Step

# `talosctl health --wait-timeout`: how long Talos may take to find the cluster healthy.
HEALTH_WAIT = "2m"
_HEALTH_TIMEOUT = 180.0


def gate(executor: Executor, inventory: Inventory, *, doing: str) -> None:
    """Raise ClusterGenError listing what is unhealthy, refusing `doing` (shown in the
    message with how to override it). Under dry-run, only lists the checks."""
    problems = [*_talos_health(executor, inventory), *_etcd(executor, inventory),
                *_nodes_ready(executor, inventory)]  # fmt: skip
    if problems:
        listed = "\n".join(f"- {problem}" for problem in problems)
        raise ClusterGenError(
            f"the cluster is not healthy, so clustergen will not {doing}:\n{listed}\n"
            "fix it first, or rerun with --force to go ahead anyway"
        )


def _talos_health(executor: Executor, inventory: Inventory) -> list[str]:
    args = [
        "--nodes", inventory.controllers[0].address,
        "--control-plane-nodes", ",".join(n.address for n in inventory.controllers),
    ]  # fmt: skip
    if inventory.workers:
        args += ["--worker-nodes", ",".join(n.address for n in inventory.workers)]
    args += ["--wait-timeout", HEALTH_WAIT]
    step = Step(executor.talosctl("health", *args), timeout=_HEALTH_TIMEOUT, probe=True)
    result = executor.run(step)
    if result is None or result.returncode == 0:
        return []
    output = (result.stderr or result.stdout).decode(errors="replace").strip().splitlines()
    return [f"talosctl health failed: {output[-1] if output else 'no output'}"]


def _etcd(executor: Executor, inventory: Inventory) -> list[str]:
    argv = executor.talosctl("etcd members", "--nodes", inventory.controllers[0].address)
    result = executor.run(Step(argv, probe=True))
    if result is None:
        return []
    if result.returncode != 0:
        error = result.stderr.decode(errors="replace").strip().splitlines()
        return [f"talosctl etcd members failed: {error[-1] if error else 'no output'}"]
    members = etcd_members(result.stdout.decode(errors="replace"))
    problems = [
        f"controller {node.name} is not an etcd member"
        for node in inventory.controllers
        if node.name not in members
    ]
    problems += [f"etcd member {name} is still a learner" for name, learner in members.items()
                 if learner]  # fmt: skip
    return problems


def etcd_members(table: str) -> dict[str, bool]:
    """`talosctl etcd members` output → {HOSTNAME: is a learner}. The table's columns are
    NODE ID HOSTNAME PEER URLS CLIENT URLS LEARNER (talosctl prints them by header)."""
    lines = [line.split() for line in table.splitlines() if line.strip()]
    if not lines or "HOSTNAME" not in lines[0]:
        return {}
    at = lines[0].index("HOSTNAME")
    return {row[at]: row[-1] == "true" for row in lines[1:] if len(row) > at}


def _nodes_ready(executor: Executor, inventory: Inventory) -> list[str]:
    result = executor.run(Step(executor.kubectl("get", "nodes", "--output", "json"), probe=True))
    if result is None:
        return []
    if result.returncode != 0:
        error = result.stderr.decode(errors="replace").strip().splitlines()
        return [f"kubectl get nodes failed: {error[-1] if error else 'no output'}"]
    ready = ready_nodes(result.stdout.decode(errors="replace"))
    return [
        f"node {node.name} is {'not Ready' if node.name in ready else 'not registered'}"
        for node in inventory.nodes
        if not ready.get(node.name, False)
    ]


def ready_nodes(document: str) -> dict[str, bool]:
    """`kubectl get nodes --output json` → {node name: its Ready condition is True}."""
    try:
        items: Sequence[object] = json.loads(document).get("items", [])
    except (ValueError, AttributeError):
        return {}
    ready: dict[str, bool] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        name = item.get("metadata", {}).get("name")
        conditions = item.get("status", {}).get("conditions", [])
        ready[str(name)] = any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in conditions
        )
    return ready
