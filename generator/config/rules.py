"""The semantic rules of the spec that a JSON Schema cannot express.

Every rule sees the config with defaults applied (`values`) and what the user
actually wrote (`given`), yields (key path, message) for each violation, and
skips values the schema already rejected (an address that is not an address
is not also "outside node_cidr"). All rules run; nothing stops at the first.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from generator.config.derive import KERNEL_DISK, parse_range
from generator.config.locate import KeyPath, format_path
from generator.config.rules_features import check_features
from generator.config.urls import bundled_known_hosts, repo_host, repo_port
from generator.repository import is_ssh

Finding = tuple[KeyPath, str]
Rule = Callable[[Mapping[str, Any], Mapping[str, Any]], Iterator[Finding]]

NODE_CIDR: KeyPath = ("network", "node_cidr")
POD_CIDR: KeyPath = ("kubernetes", "pod_cidr")
SVC_CIDR: KeyPath = ("kubernetes", "service_cidr")
DEFAULT_GATEWAY: KeyPath = ("network", "default_gateway")
COREDNS: KeyPath = ("kubernetes", "coredns_addr")
API_ADDR: KeyPath = ("kubernetes", "api", "addr")
GATEWAYS: tuple[KeyPath, ...] = tuple(("gateways", k) for k in ("internal", "dns", "external"))
LB_RANGE: KeyPath = ("cilium", "loadbalancer_range")
BGP_ROUTER: KeyPath = ("cilium", "bgp", "router_addr")
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
                               _loadbalancer_range, _upstream_servers, _repository,
                               _webhook_provider, _dns_and_ingress, _nodes,
                               _disks)  # fmt: skip
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
        yield COREDNS, f"{coredns} is outside kubernetes.service_cidr ({svc})"
    elif svc and coredns and coredns in (svc.network_address, svc.broadcast_address):
        yield COREDNS, f"{coredns} is the network or broadcast address of {svc}; use a host"
    elif svc and coredns and coredns == svc.network_address + 1:
        # The API server gives the first service address to the `kubernetes` Service.
        yield (
            COREDNS,
            (
                f"{coredns} is the ClusterIP of the `kubernetes` Service (the first address of "
                f"kubernetes.service_cidr); use another, e.g. {svc.network_address + 10}"
            ),
        )
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
    else:
        targets.append(BGP_ROUTER)
    for path in targets:
        ip = _ip(at(values, path))
        if ip is None:
            continue
        if ip not in net:
            message = f"{ip} is outside network.node_cidr ({net})"
            if not bgp and path in GATEWAYS:
                message += " (gateways may be outside it only when cilium.bgp is set)"
            if path == BGP_ROUTER:
                # The peer config sets no eBGP multihop: the router must be one hop away.
                message += "; Cilium peers with the router directly, so it must be on that network"
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
    router = _ip(at(values, BGP_ROUTER))
    for path in [API_ADDR, *GATEWAYS] + [(*p, "address") for p in _node_paths(values)]:
        if router is not None and _ip(at(values, path)) == router:
            yield (
                BGP_ROUTER,
                (
                    f"{router} is {format_path(path)}; the BGP peer is your router (often "
                    "network.default_gateway), not an address of the cluster"
                ),
            )
    vlan = at(values, ("network", "vlan_tag"))
    if _is_number_text(vlan) and not 1 <= int(vlan) <= 4094:
        yield ("network", "vlan_tag"), f"must be a VLAN ID from 1 to 4094 (got {vlan})"


def _loadbalancer_range(values: Mapping[str, Any], given: Mapping[str, Any]) -> Iterator[Finding]:
    """cilium.loadbalancer_range holds only addresses nothing else on the network uses.

    Cilium hands out any pool address to a LoadBalancer Service and announces it (ARP on the
    node network, BGP elsewhere), so an address in use there would be taken over.
    """
    text = at(values, LB_RANGE)
    if not isinstance(text, str):
        return
    try:
        first, last = parse_range(text)
    except ValueError:
        return
    if "-" not in text and str(first) != text.split("/")[0]:
        yield (
            LB_RANGE,
            f"{text} has host bits set; use the network address {first}/{text.split('/')[1]}",
        )
        return
    if first > last:
        yield LB_RANGE, f"{text} ends before it starts; write it as {last}-{first}"
        return
    span = f"{text} "
    for path in (POD_CIDR, SVC_CIDR):
        net = _net(at(values, path))
        if net and first <= net.broadcast_address and last >= net.network_address:
            yield (
                LB_RANGE,
                f"{span}overlaps {format_path(path)} ({net}); "
                "the pool must not share addresses with the cluster networks",
            )
    node_net = _net(at(values, NODE_CIDR))
    if node_net is None:
        return
    if not bgp_on(values) and not (first in node_net and last in node_net):
        yield (
            LB_RANGE,
            span
            + f"is not inside network.node_cidr ({node_net}); addresses "
            + ("outside it need cilium.bgp (hosts on the node network reach only on-link ones)"),
        )
    if node_net.prefixlen < 31:
        for ip, kind in (
            (node_net.network_address, "network"),
            (node_net.broadcast_address, "broadcast"),
        ):
            if first <= ip <= last:
                yield LB_RANGE, span + f"contains {ip}, the {kind} address of network.node_cidr"
    owners = [DEFAULT_GATEWAY, API_ADDR, *GATEWAYS, BGP_ROUTER]
    owners += [(*p, "address") for p in _node_paths(values)]
    for key in ("dns_servers", "ntp_servers"):
        servers = at(values, ("network", key))
        owners += (
            [("network", key, i) for i in range(len(servers))] if isinstance(servers, list) else []
        )
    for path in owners:
        owned = _ip(at(values, path))
        if owned is not None and first <= owned <= last:
            label = format_path(path)
            if path == DEFAULT_GATEWAY and at(given, path) is None:
                label += " (by default the first host of network.node_cidr)"
            yield (
                LB_RANGE,
                span + f"contains {owned}, the address of {label}; choose a range without it",
            )


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
    names = {host, f"[{host}]:{port}"} if port and port != 22 else {host}
    entries: list[set[str]] = []
    for number, line in enumerate(known.splitlines(), start=1):
        fields = line.split()
        if not fields or line.lstrip().startswith("#"):
            continue
        if len(fields) < 3:
            yield path, f"line {number} is not a known_hosts line ('host key-type base64-key')"
            continue
        entries.append(set(fields[0].split(",")))
    # Hashed entries (|1|…) cannot be matched without their salt: trust a file that has any.
    hashed = any(name.startswith("|") for entry in entries for name in entry)
    if entries and not hashed and not any(entry & names for entry in entries):
        want = " or ".join(sorted(names))
        scan = f"ssh-keyscan -p {port} {host}" if port and port != 22 else f"ssh-keyscan {host}"
        yield (
            path,
            (
                f"has no line for {want} (the host of repository.url), so Flux would reject the "
                f"server's key; run `{scan}`"
            ),
        )


_BRANCH_PREFIX = re.compile(r"^(refs/heads/|refs/remotes/origin/|origin/)")
# The webhook each forge sends, as Flux's Receiver types name them
# (https://fluxcd.io/flux/components/notification/receivers/#type).
_FORGE_WEBHOOKS = {"github.com": "github", "gitlab.com": "gitlab"}


def _branch(values: Mapping[str, Any]) -> Iterator[Finding]:
    branch = at(values, ("repository", "branch"))
    if isinstance(branch, str) and (short := _BRANCH_PREFIX.sub("", branch)) != branch:
        yield (
            ("repository", "branch"),
            (f"'{branch}' is a ref, not a branch name; Flux takes the name: write {short}"),
        )


def _webhook_provider(values: Mapping[str, Any], given: Mapping[str, Any]) -> Iterator[Finding]:
    yield from _branch(values)
    url = at(values, ("repository", "url"))
    provider = at(values, ("repository", "webhook_provider"))
    if not isinstance(url, str) or provider in (None, "none"):
        return
    host = repo_host(url).lower()
    expected = _FORGE_WEBHOOKS.get(host)
    if expected and provider != expected:
        default = "" if at(given, ("repository", "webhook_provider")) else " (the default)"
        yield (
            ("repository", "webhook_provider"),
            (
                f"'{provider}'{default} does not match {host}, which sends {expected} webhooks; "
                f"set {expected}, or none"
            ),
        )


_PARTITION = re.compile(
    r"^(/dev/)?(?P<disk>(sd|vd|xvd|hd)[a-z]+|nvme[0-9]+n[0-9]+|mmcblk[0-9]+)p?[0-9]+$"
)


def _disks(values: Mapping[str, Any], given: Mapping[str, Any]) -> Iterator[Finding]:
    """An install disk is a whole disk; a partition name matches no disk Talos can install to."""
    for path in _node_paths(values):
        disk = at(values, (*path, "disk"))
        match = _PARTITION.match(disk) if isinstance(disk, str) else None
        if match and not KERNEL_DISK.match(disk.removeprefix("/dev/")):
            yield (
                (*path, "disk"),
                (
                    f"'{disk}' is a partition; Talos installs to a whole disk: "
                    f"use /dev/{match['disk']}"
                ),
            )


def _upstream_servers(values: Mapping[str, Any], given: Mapping[str, Any]) -> Iterator[Finding]:
    """Nodes need DNS and NTP before the cluster runs (to pull images, to trust certificates'
    times), so their servers cannot be addresses the cluster itself serves."""
    served = [API_ADDR, *GATEWAYS] + [(*p, "address") for p in _node_paths(values)]
    owners = {ip: path for path in served if (ip := _ip(at(values, path))) is not None}
    for key, what in (("dns_servers", "DNS"), ("ntp_servers", "NTP")):
        servers = at(values, ("network", key))
        for index, server in enumerate(servers if isinstance(servers, list) else []):
            ip = _ip(server)
            if ip is not None and ip in owners:
                yield (
                    ("network", key, index),
                    (
                        f"{ip} is {format_path(owners[ip])}, served by the cluster itself; nodes "
                        f"need {what} before it runs: use your router or a public server"
                    ),
                )


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
