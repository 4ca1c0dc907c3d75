"""Defaults and derived values: after this, every key of the spec exists.

`apply_defaults` and `complete` run before the semantic rules (which need the
defaults) and must survive data the schema already rejected; `normalise` and
`derive` run only on a config that passed every check.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from generator.config.schema import Schema, load_schema, resolve
from generator.config.urls import bundled_known_hosts, repo_host
from generator.repository import is_ssh

# Kernel disk names as `talosctl get disks` lists them (sda, vda, nvme0n1, mmcblk0): a user
# copying one means that device, never a serial number, so it is taken as /dev/<name>.
KERNEL_DISK = re.compile(r"^(sd[a-z]+|vd[a-z]+|xvd[a-z]+|hd[a-z]+|nvme[0-9]+n[0-9]+|mmcblk[0-9]+)$")


def apply_defaults(data: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of `data` with every schema default filled in; optional keys
    without a default become None, missing or empty sections become mappings."""
    result = copy.deepcopy(dict(data))
    _fill(result, load_schema())
    return result


def _fill(instance: dict[str, Any], schema: Schema) -> None:
    for key, prop in resolve(schema).get("properties", {}).items():
        prop = resolve(prop)
        # A section written with all its keys commented out (`bgp:`) reads as null.
        if instance.get(key) is None:
            if "default" in prop:
                instance[key] = copy.deepcopy(prop["default"])
            elif "properties" in prop:
                instance[key] = {}
            else:
                instance[key] = None
        value = instance[key]
        if isinstance(value, dict) and "properties" in prop:
            _fill(value, prop)
        elif isinstance(value, list) and isinstance(prop.get("items"), dict):
            items = resolve(prop["items"])
            if "properties" in items:
                for item in value:
                    if isinstance(item, dict):
                        _fill(item, items)


def _section(values: Mapping[str, Any], name: str) -> dict[str, Any]:
    section = values.get(name)
    return section if isinstance(section, dict) else {}


def _network(text: Any) -> ipaddress.IPv4Network | None:
    if not isinstance(text, str):
        return None
    try:
        return ipaddress.IPv4Network(text, strict=False)
    except ValueError:
        return None


def _nodes(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    nodes = values.get("nodes")
    return [n for n in nodes if isinstance(n, dict)] if isinstance(nodes, list) else []


def complete(values: dict[str, Any]) -> None:
    """Fill the defaults that depend on other values (in place)."""
    network, kubernetes = _section(values, "network"), _section(values, "kubernetes")
    node_net = _network(network.get("node_cidr"))
    if network.get("default_gateway") is None and node_net and node_net.num_addresses > 2:
        network["default_gateway"] = str(node_net.network_address + 1)
    svc_net = _network(kubernetes.get("service_cidr"))
    if kubernetes.get("coredns_addr") is None and svc_net and svc_net.num_addresses > 10:
        kubernetes["coredns_addr"] = str(svc_net.network_address + 10)
    ingress, dns = _section(values, "ingress"), _section(values, "dns")
    if ingress.get("mode") is None:
        ingress["mode"] = "cloudflare-tunnel" if dns.get("provider") == "cloudflare" else "none"
    spegel = _section(values, "spegel")
    if spegel.get("enabled") is None:
        spegel["enabled"] = len(_nodes(values)) > 1
    default_schematic = _section(values, "talos").get("schematic_id")
    for node in _nodes(values):
        if node.get("schematic_id") is None:
            node["schematic_id"] = default_schematic


def normalise(values: dict[str, Any]) -> None:
    """Give values one type each (in place): VLAN and ASNs as int, quantities as str,
    bare kernel disk names as device paths."""
    for node in values["nodes"]:
        if KERNEL_DISK.match(node["disk"]):
            node["disk"] = f"/dev/{node['disk']}"
    network = values["network"]
    if network["vlan_tag"] is not None:
        network["vlan_tag"] = int(network["vlan_tag"])
    bgp = values["cilium"]["bgp"]
    for key in ("router_asn", "node_asn"):
        if bgp[key] is not None:
            bgp[key] = int(bgp[key])
    governance = values["features"]["resource_governance"]
    for group in ("quota", "limits"):
        for key, value in governance[group].items():
            if key != "pods":
                governance[group][key] = str(value)
    monitoring = values["features"]["monitoring"]
    monitoring["storage_size"] = str(monitoring["storage_size"])


# Replicas of a multi-replica workload never exceed this: a third copy survives one node's
# reboot while another is down; more only add load.
MAX_REPLICAS = 3


def derive(values: Mapping[str, Any]) -> dict[str, Any]:
    """The `derived` template context: computed once here, never set by users.

    Replica counts follow the nodes a workload may be scheduled on, capped at MAX_REPLICAS:
    `replicas_any_node` for workloads that run anywhere (every node is schedulable: the
    Talos controller patch sets `cluster.allowSchedulingOnControlPlanes: true`), and
    `replicas_control_plane` for workloads pinned to control-plane nodes (CoreDNS).
    """
    nodes = values["nodes"]
    controllers = [n for n in nodes if n["controller"]]
    workers = [n for n in nodes if not n["controller"]]
    bgp = values["cilium"]["bgp"]
    url = values["repository"]["url"]
    known_hosts = ""
    if is_ssh(url):
        known_hosts = values["repository"]["known_hosts"].strip() or (
            bundled_known_hosts(url) or ""
        )
        known_hosts = known_hosts.rstrip("\n") + "\n" if known_hosts else ""
    features = values["features"]
    return {
        "controllers": controllers,
        "workers": workers,
        "controller_count": len(controllers),
        "node_count": len(nodes),
        "replicas_any_node": min(len(nodes), MAX_REPLICAS),
        "replicas_control_plane": min(len(controllers), MAX_REPLICAS),
        "ha": len(controllers) > 1,
        "bgp_enabled": all(bgp[k] is not None for k in ("router_addr", "router_asn", "node_asn")),
        **loadbalancer_pool(values),
        "repo_is_ssh": is_ssh(url),
        "repo_host": repo_host(url),
        "repo_known_hosts": known_hosts,
        "features_on": sorted(
            name for name, feature in features.items() if feature.get("enabled") is True
        ),
    }


def parse_range(text: str) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
    """First and last address of `cilium.loadbalancer_range`: a CIDR or `first-last`.

    Raises ValueError for text that is neither.
    """
    if "-" in text:
        first, _, last = text.partition("-")
        return ipaddress.IPv4Address(first.strip()), ipaddress.IPv4Address(last.strip())
    net = ipaddress.IPv4Network(text, strict=False)
    return net.network_address, net.broadcast_address


def loadbalancer_pool(values: Mapping[str, Any]) -> dict[str, Any]:
    """The LoadBalancer IP pool: one /32 block per gateway address plus the user's range.

    Returns `loadbalancer_blocks` (CiliumLoadBalancerIPPool `blocks`: `{"cidr": …}` or
    `{"start": …, "stop": …}`) and `l2_announcements` (some pool address is on the node
    network, so hosts there ARP for it and Cilium must answer, with or without BGP).
    """
    node_net = ipaddress.IPv4Network(values["network"]["node_cidr"], strict=False)
    gateways = values["gateways"]
    addresses = [gateways[k] for k in ("internal", "dns", "external") if gateways[k]]
    blocks: list[dict[str, str]] = [{"cidr": f"{a}/32"} for a in addresses]
    on_link = any(ipaddress.IPv4Address(a) in node_net for a in addresses)
    text = values["cilium"]["loadbalancer_range"]
    if text:
        first, last = parse_range(text)
        if "-" in text:
            blocks.append({"start": str(first), "stop": str(last)})
        else:
            blocks.append({"cidr": str(ipaddress.IPv4Network(text, strict=False))})
        on_link = on_link or (
            first <= node_net.broadcast_address and last >= node_net.network_address
        )
    return {"loadbalancer_blocks": blocks, "l2_announcements": on_link}
