"""Reading what talosctl and kubectl answer about the cluster's health."""

from __future__ import annotations

import json

from generator.lifecycle.health import etcd_members, ready_nodes

# talosctl etcd members, as its tabwriter prints it (with and without the NODE column).
MEMBERS = "\n".join(
    "   ".join(row)
    for row in (
        ("NODE        ", "ID              ", "HOSTNAME", "PEER URLS", "CLIENT URLS", "LEARNER"),
        ("192.168.1.10", "3a5f1c2d4e6b7a89", "k8s-0   ", "https://192.168.1.10:2380",
         "https://192.168.1.10:2379", "false"),
        ("192.168.1.10", "0b1c2d3e4f5a6b7c", "k8s-1   ", "https://192.168.1.11:2380",
         "https://192.168.1.11:2379", "true"),
    )
)  # fmt: skip


def test_etcd_members_by_hostname_with_learners() -> None:
    assert etcd_members(MEMBERS) == {"k8s-0": False, "k8s-1": True}
    without_node = "\n".join(line.split(None, 1)[1] for line in MEMBERS.splitlines())
    assert etcd_members(without_node) == {"k8s-0": False, "k8s-1": True}
    assert etcd_members("") == {}
    assert etcd_members("error: something else\n") == {}


def test_ready_nodes_from_kubectl_json() -> None:
    def node(name: str, *conditions: tuple[str, str]) -> dict[str, object]:
        return {
            "metadata": {"name": name},
            "status": {"conditions": [{"type": t, "status": s} for t, s in conditions]},
        }

    document = json.dumps({"items": [
        node("k8s-0", ("MemoryPressure", "False"), ("Ready", "True")),
        node("k8s-1", ("Ready", "False")),
        node("k8s-2", ("Ready", "Unknown")),
        node("w-0"),
    ]})  # fmt: skip
    assert ready_nodes(document) == {"k8s-0": True, "k8s-1": False, "k8s-2": False, "w-0": False}
    assert ready_nodes("not json") == {}
