"""The command lines the day-two commands should run, written out once for the tests."""

from __future__ import annotations

from collections.abc import Sequence

TALOSCONFIG = "--talosconfig talos/clusterconfig/talosconfig"
KUBECONFIG = "--kubeconfig kubeconfig"


def gate(controllers: Sequence[str], workers: Sequence[str] = ()) -> list[str]:
    """The three health checks, addresses in cluster.yaml order."""
    health = (
        f"talosctl health {TALOSCONFIG} --nodes {controllers[0]} "
        f"--control-plane-nodes {','.join(controllers)}"
    )
    if workers:
        health += f" --worker-nodes {','.join(workers)}"
    return [
        f"{health} --wait-timeout 2m",
        f"talosctl etcd members {TALOSCONFIG} --nodes {controllers[0]}",
        f"kubectl get nodes --output json {KUBECONFIG}",
    ]


def upgrade(name: str, address: str, image: str, timeout: int = 600) -> list[str]:
    """Version before, the upgrade, the wait for Ready, version after."""
    version = f"talosctl version {TALOSCONFIG} --nodes {address}"
    return [
        version,
        f"talosctl upgrade {TALOSCONFIG} --nodes {address} --image {image} --timeout {timeout}s",
        f"kubectl wait --for condition=Ready node/{name} --timeout {timeout}s {KUBECONFIG}",
        version,
    ]
