"""The semantic rules of the spec that a JSON Schema cannot express.

Every rule sees the config with defaults applied (`values`) and what the user
actually wrote (`given`), yields (key path, message) for each violation, and
skips values the schema already rejected (an address that is not an address
is not also "outside node_cidr"). All rules run; nothing stops at the first.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from generator.config.locate import KeyPath, format_path
from generator.config.rules_features import check_features
from generator.config.urls import bundled_known_hosts, is_ssh, repo_host, repo_port

Finding = tuple[KeyPath, str]
Rule = Callable[[Mapping[str, Any], Mapping[str, Any]], Iterator[Finding]]

NODE_CIDR: KeyPath = ("network", "node_cidr")
POD_CIDR: KeyPath = ("kubernetes", "pod_cidr")
SVC_CIDR: KeyPath = ("kubernetes", "svc_cidr")
DEFAULT_GATEWAY: KeyPath = ("network", "default_gateway")
COREDNS: KeyPath = ("kubernetes", "coredns_addr")
API_ADDR: KeyPath = ("kubernetes", "api", "addr")
GATEWAYS: tuple[KeyPath, ...] = tuple(("gateways", k) for k in ("internal", "dns", "external"))
BGP_KEYS = ("router_addr", "router_asn", "node_asn")
MAX_ASN = 4294967295

_TOKEN_REQUIRED = (
    "is required when dns.provider is cloudflare "
    "(an API token with Zone:DNS:Edit and Account:Cloudflare Tunnel:Read)"
)
_SCHEMATIC_FOR_ALL = (
    "is required because no node sets its own schematic_id; create one at https://factory.talos.dev"
)
_SCHEMATIC_FOR_NODE = "is required: set it on this node or set talos.schematic_id for all nodes"


def at(data: Any, path: KeyPath) -> Any:
    """The value at `path`, or None when any step is missing or of the wrong type."""
    for part in path:
        if isinstance(part, int):
            if not isinstance(data, list) or part >= len(data):
                return None
        elif not isinstance(data, Mapping):
            return None
        data = data[part] if isinstance(part, int) else data.get(part)
    return data


def _ip(value: Any) -> ipaddress.IPv4Address | None:
    try:
        return ipaddress.IPv4Address(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _net(value: Any) -> ipaddress.IPv4Network | None:
    try:
        return ipaddress.IPv4Network(value, strict=False) if isinstance(value, str) else None
    except ValueError:
        return None


def _node_paths(values: Mapping[str, Any]) -> list[KeyPath]:
    nodes = values.get("nodes")
    return [("nodes", i) for i in range(len(nodes))] if isinstance(nodes, list) else []


def bgp_on(values: Mapping[str, Any]) -> bool:
    return all(at(values, ("cilium", "bgp", k)) is not None for k in BGP_KEYS)


def check(values: Mapping[str, Any], given: Mapping[str, Any]) -> list[Finding]:
    rules: tuple[Rule, ...] = (_cidrs, _inside_node_cidr, _unique_addresses, _bgp_and_vlan,
                               _repository, _dns_and_ingress, _nodes)  # fmt: skip
    findings = [f for rule in rules for f in rule(values, given)]
    findings.extend(check_features(values))
    return findings


def _cidrs(values: Mapping[str, Any], given: Mapping[str, Any]) -> Iterator[Finding]:
    nets: list[tuple[KeyPath, ipaddress.IPv4Network]] = []
    for path in (NODE_CIDR, POD_CIDR, SVC_CIDR):
        text, net = at(values, path), _net(at(values, path))
        if net is None:
            continue
        if str(net.network_address) != text.split("/")[0]:
            yield path, f"{text} has host bits set; use the network address {net}"
        for other_path, other in nets:
            if net.overlaps(other):
                default = "" if at(given, path) is not None else " (the default)"
                message = f"{net}{default} overlaps {format_path(other_path)} ({other}); "
                yield path, message + "the node, pod and service networks must not overlap"
        nets.append((path, net))
    svc = _net(at(values, SVC_CIDR))
    coredns = _ip(at(values, COREDNS))
    if svc and coredns and coredns not in svc:
        yield COREDNS, f"{coredns} is outside kubernetes.svc_cidr ({svc})"
    if svc and at(values, COREDNS) is None:
        yield SVC_CIDR, f"{svc} is too small to hold the CoreDNS address (its 10th address)"


def _inside_node_cidr(values: Mapping[str, Any], given: Mapping[str, Any]) -> Iterator[Finding]:
    net = _net(at(values, NODE_CIDR))
    if net is None:
        return
    targets = [API_ADDR] + [(*p, "address") for p in _node_paths(values)]
    if at(given, DEFAULT_GATEWAY) is not None:
        targets.insert(0, DEFAULT_GATEWAY)
    bgp = bgp_on(values)
    if not bgp:
        targets.extend(GATEWAYS)
    for path in targets:
        ip = _ip(at(values, path))
        if ip is None:
            continue
        if ip not in net:
            message = f"{ip} is outside network.node_cidr ({net})"
            if not bgp and path in GATEWAYS:
                message += " (gateways may be outside it only when cilium.bgp is set)"
            yield path, message
        elif net.prefixlen < 31 and ip in (net.network_address, net.broadcast_address):
            kind = "network" if ip == net.network_address else "broadcast"
            yield path, f"{ip} is the {kind} address of network.node_cidr ({net}); use a host"


def _unique_addresses(values: Mapping[str, Any], given: Mapping[str, Any]) -> Iterator[Finding]:
    paths = [DEFAULT_GATEWAY, API_ADDR, *GATEWAYS] + [(*p, "address") for p in _node_paths(values)]
    owners: dict[ipaddress.IPv4Address, str] = {}
    for path in paths:
        ip = _ip(at(values, path))
        if ip is None:
            continue
        label = format_path(path)
        if path == DEFAULT_GATEWAY and at(given, path) is None:
            label += " (by default the first host of network.node_cidr)"
        if ip in owners:
            yield path, f"address {ip} is used by both {owners[ip]} and {format_path(path)}"
        else:
            owners[ip] = label


def _bgp_and_vlan(values: Mapping[str, Any], given: Mapping[str, Any]) -> Iterator[Finding]:
    present = [k for k in BGP_KEYS if at(values, ("cilium", "bgp", k)) is not None]
    if present and len(present) < len(BGP_KEYS):
        message = f"is required when cilium.bgp.{present[0]} is set "
        message += "(set router_addr, router_asn and node_asn, or none of them)"
        for key in BGP_KEYS:
            if key not in present:
                yield ("cilium", "bgp", key), message
    for key in ("router_asn", "node_asn"):
        value = at(values, ("cilium", "bgp", key))
        if _is_number_text(value) and not 1 <= int(value) <= MAX_ASN:
            yield ("cilium", "bgp", key), f"must be an AS number from 1 to {MAX_ASN} (got {value})"
    vlan = at(values, ("network", "vlan_tag"))
    if _is_number_text(vlan) and not 1 <= int(vlan) <= 4094:
        yield ("network", "vlan_tag"), f"must be a VLAN ID from 1 to 4094 (got {vlan})"


def _is_number_text(value: Any) -> bool:
    # Only ASCII digits: str.isdigit() also takes "²", which int() refuses; the length
    # bound keeps int() away from the text of a huge number the schema reports anyway.
    return isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20


def _repository(values: Mapping[str, Any], given: Mapping[str, Any]) -> Iterator[Finding]:
    url = at(values, ("repository", "url"))
    known = at(values, ("repository", "known_hosts"))
    if not isinstance(url, str) or not is_ssh(url) or not isinstance(known, str):
        return
    path: KeyPath = ("repository", "known_hosts")
    host, port = repo_host(url), repo_port(url)
    if not known.strip() and bundled_known_hosts(url) is None:
        scan = f"ssh-keyscan -p {port} {host}" if port else f"ssh-keyscan {host}"
        message = f"is required for an ssh:// repository on {host} (keys are bundled only "
        yield path, message + f"for github.com, gitlab.com and codeberg.org); run `{scan}`"
    for number, line in enumerate(known.splitlines(), start=1):
        fields = line.split()
        if fields and not line.lstrip().startswith("#") and len(fields) < 3:
            yield path, f"line {number} is not a known_hosts line ('host key-type base64-key')"


def _dns_and_ingress(values: Mapping[str, Any], given: Mapping[str, Any]) -> Iterator[Finding]:
    provider, token = at(values, ("dns", "provider")), at(values, ("dns", "token"))
    if isinstance(token, str):
        if provider == "cloudflare" and not token.strip():
            yield ("dns", "token"), _TOKEN_REQUIRED
        if provider == "none" and token.strip():
            yield ("dns", "token"), "must be empty when dns.provider is none"
    mode = at(values, ("ingress", "mode"))
    if mode in ("cloudflare-tunnel", "direct") and provider == "none":
        yield ("ingress", "mode"), f"'{mode}' needs dns.provider: cloudflare (or use mode none)"
    if isinstance(mode, str) and mode != "none" and at(values, GATEWAYS[2]) is None:
        default = "" if at(given, ("ingress", "mode")) else " (the default)"
        message = f"is required when ingress.mode is {mode}{default}"
        yield GATEWAYS[2], message + "; or set ingress.mode: none"


def _nodes(values: Mapping[str, Any], given: Mapping[str, Any]) -> Iterator[Finding]:
    paths = _node_paths(values)
    for key, what in (("name", "name"), ("mac_addr", "MAC address")):
        first: dict[str, KeyPath] = {}
        for path in paths:
            value = at(values, (*path, key))
            if not isinstance(value, str):
                continue
            if value in first:
                yield (*path, key), f"{what} '{value}' is also used by {format_path(first[value])}"
            else:
                first[value] = path
    roles = [at(values, (*p, "controller")) for p in paths]
    if roles and all(isinstance(r, bool) for r in roles) and not any(roles):
        yield ("nodes",), "needs at least one controller (a node with controller: true)"
    missing = [p for p in paths if at(values, (*p, "schematic_id")) is None]
    if missing and len(missing) == len(paths):
        yield ("talos", "schematic_id"), _SCHEMATIC_FOR_ALL
    elif missing:
        for path in missing:
            yield (*path, "schematic_id"), _SCHEMATIC_FOR_NODE
