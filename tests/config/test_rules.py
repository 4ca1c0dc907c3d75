"""Every semantic rule of the spec: the valid case loads, the broken case gives the exact line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.config.conftest import BASE, SCHEMATIC, edit, problems, where, write

Change = tuple[str, str]
Expected = tuple[str, str, str]  # (anchor line, key, message)

NET_OVERLAP = "the node, pod and service networks must not overlap"
BGP_ALL = "(set router_addr, router_asn and node_asn, or none of them)"
NOT_BUNDLED = "(keys are bundled only for github.com, gitlab.com and codeberg.org)"
HTTPS = "url: https://github.com/example/home-ops"
BGP_ON = (
    "talos:",
    "cilium:\n  bgp:\n    router_addr: 192.168.1.1\n    router_asn: 64513\n"
    "    node_asn: 64514\ntalos:",
)

# fmt: off
BROKEN: dict[str, tuple[list[Change], list[Expected]]] = {
    "node_cidr has host bits": (
        [("node_cidr: 192.168.1.0/24", "node_cidr: 192.168.1.5/24")],
        [("node_cidr", "network.node_cidr",
          "192.168.1.5/24 has host bits set; use the network address 192.168.1.0/24")],
    ),
    "default gateway outside node_cidr": (
        [("node_cidr: 192.168.1.0/24", "+  default_gateway: 192.168.2.1")],
        [("default_gateway", "network.default_gateway",
          "192.168.2.1 is outside network.node_cidr (192.168.1.0/24)")],
    ),
    "pod_cidr overlaps node_cidr": (
        [("kubernetes:", "+  pod_cidr: 192.168.0.0/16")],
        [("pod_cidr", "kubernetes.pod_cidr",
          f"192.168.0.0/16 overlaps network.node_cidr (192.168.1.0/24); {NET_OVERLAP}")],
    ),
    "service_cidr overlaps pod_cidr": (
        [("kubernetes:", "+  pod_cidr: 10.42.0.0/16\n  service_cidr: 10.42.128.0/17")],
        [("service_cidr", "kubernetes.service_cidr",
          f"10.42.128.0/17 overlaps kubernetes.pod_cidr (10.42.0.0/16); {NET_OVERLAP}")],
    ),
    "default pod_cidr overlaps node_cidr (reported at the parent)": (
        [("node_cidr: 192.168.1.0/24", "node_cidr: 10.0.0.0/8")]
        + [(f"{key}: 192.168.1.{n}", f"{key}: 10.0.0.{n}") for key, n in
           (("addr", 20), ("internal", 21), ("dns", 22), ("external", 23), ("address", 10),
            ("address", 11))],
        [("kubernetes:", "kubernetes.pod_cidr",
          f"10.42.0.0/16 (the default) overlaps network.node_cidr (10.0.0.0/8); {NET_OVERLAP}"),
         ("kubernetes:", "kubernetes.service_cidr",
          f"10.43.0.0/16 (the default) overlaps network.node_cidr (10.0.0.0/8); {NET_OVERLAP}")],
    ),
    "coredns outside service_cidr": (
        [("kubernetes:", "+  coredns_addr: 10.44.0.10")],
        [("coredns_addr", "kubernetes.coredns_addr",
          "10.44.0.10 is outside kubernetes.service_cidr (10.43.0.0/16)")],
    ),
    "service_cidr too small for coredns": (
        [("kubernetes:", "+  service_cidr: 10.43.0.0/29")],
        [("service_cidr", "kubernetes.service_cidr",
          "10.43.0.0/29 is too small to hold the CoreDNS address (its 10th address)")],
    ),
    "api outside node_cidr": (
        [("addr: 192.168.1.20", "addr: 10.0.0.20")],
        [("addr:", "kubernetes.api.addr",
          "10.0.0.20 is outside network.node_cidr (192.168.1.0/24)")],
    ),
    "loadbalancer_range with host bits": (
        [("talos:", "cilium:\n  loadbalancer_range: 192.168.1.250/28\ntalos:")],
        [("loadbalancer_range", "cilium.loadbalancer_range",
          "192.168.1.250/28 has host bits set; use the network address 192.168.1.240/28")],
    ),
    "loadbalancer_range backwards": (
        [("talos:", "cilium:\n  loadbalancer_range: 192.168.1.250-192.168.1.240\ntalos:")],
        [("loadbalancer_range", "cilium.loadbalancer_range",
          "192.168.1.250-192.168.1.240 ends before it starts; "
          "write it as 192.168.1.240-192.168.1.250")],
    ),
    "coredns on the kubernetes Service address": (
        [("kubernetes:", "+  coredns_addr: 10.43.0.1")],
        [("coredns_addr", "kubernetes.coredns_addr",
          "10.43.0.1 is the ClusterIP of the `kubernetes` Service (the first address of "
          "kubernetes.service_cidr); use another, e.g. 10.43.0.10")],
    ),
    "api is the network address": (
        [("addr: 192.168.1.20", "addr: 192.168.1.0")],
        [("addr:", "kubernetes.api.addr",
          "192.168.1.0 is the network address of network.node_cidr (192.168.1.0/24); use a host")],
    ),
    "gateway outside node_cidr without BGP": (
        [("internal: 192.168.1.21", "internal: 10.0.0.21")],
        [("internal", "gateways.internal", "10.0.0.21 is outside network.node_cidr "
          "(192.168.1.0/24) (gateways may be outside it only when cilium.bgp is set)")],
    ),
    "node address outside node_cidr": (
        [("address: 192.168.1.11", "address: 192.168.2.11")],
        [("address: 192.168.2.11", "nodes[1].address",
          "192.168.2.11 is outside network.node_cidr (192.168.1.0/24)")],
    ),
    "api and node share an address": (
        [("address: 192.168.1.11", "address: 192.168.1.20")],
        [("address: 192.168.1.20", "nodes[1].address",
          "address 192.168.1.20 is used by both kubernetes.api.addr and nodes[1].address")],
    ),
    "two gateways share an address": (
        [("dns: 192.168.1.22", "dns: 192.168.1.21")],
        [("dns: 192.168.1.21", "gateways.dns",
          "address 192.168.1.21 is used by both gateways.internal and gateways.dns")],
    ),
    "node takes the default gateway's address": (
        [("address: 192.168.1.10", "address: 192.168.1.1")],
        [("address: 192.168.1.1", "nodes[0].address",
          "address 192.168.1.1 is used by both network.default_gateway (by default the first "
          "host of network.node_cidr) and nodes[0].address")],
    ),
    "bgp partly set": (
        [("talos:", "cilium:\n  bgp:\n    router_asn: 64513\ntalos:")],
        [("bgp:", "cilium.bgp.node_asn",
          f"is required when cilium.bgp.router_asn is set {BGP_ALL}"),
         ("bgp:", "cilium.bgp.router_addr",
          f"is required when cilium.bgp.router_asn is set {BGP_ALL}")],
    ),
    "asn string out of range": (
        [BGP_ON, ("router_asn: 64513", 'router_asn: "4294967296"')],
        [("router_asn", "cilium.bgp.router_asn",
          "must be an AS number from 1 to 4294967295 (got 4294967296)")],
    ),
    "asn integer out of range": (
        [BGP_ON, ("node_asn: 64514", "node_asn: 0")],
        [("node_asn", "cilium.bgp.node_asn",
          "must be an AS number from 1 to 4294967295, as a number or a numeric string (got 0)")],
    ),
    "vlan string out of range": (
        [("node_cidr: 192.168.1.0/24", '+  vlan_tag: "5000"')],
        [("vlan_tag", "network.vlan_tag", "must be a VLAN ID from 1 to 4094 (got 5000)")],
    ),
    "vlan integer out of range": (
        [("node_cidr: 192.168.1.0/24", "+  vlan_tag: 4095")],
        [("vlan_tag", "network.vlan_tag",
          "must be a VLAN ID from 1 to 4094, as a number or a numeric string (got 4095)")],
    ),
    "scp-style repository url": (
        [(HTTPS, "url: git@github.com:example/home-ops.git")],
        [("url:", "repository.url", "must be https://host/owner/repo, http://host/owner/repo or "
          "ssh://git@host/owner/repo (got 'git@github.com:example/home-ops.git'; scp-style URLs "
          "are not supported; write ssh://git@github.com/example/home-ops.git)")],
    ),
    "ssh url on a host without bundled keys": (
        [(HTTPS, "url: ssh://git@git.example.com/me/ops.git")],
        [("repository:", "repository.known_hosts", "is required for an ssh:// repository on "
          f"git.example.com {NOT_BUNDLED}; run `ssh-keyscan git.example.com`")],
    ),
    "ssh url on github.com with a custom port": (
        [(HTTPS, "url: ssh://git@ssh.github.com:443/example/home-ops")],
        [("repository:", "repository.known_hosts", "is required for an ssh:// repository on "
          f"ssh.github.com {NOT_BUNDLED}; run `ssh-keyscan -p 443 ssh.github.com`")],
    ),
    "malformed known_hosts": (
        [(HTTPS, "url: ssh://git@git.example.com/me/ops.git\n"
                 "known_hosts: git.example.com ssh-ed25519")],
        [("known_hosts", "repository.known_hosts",
          "line 1 is not a known_hosts line ('host key-type base64-key')")],
    ),
    "cloudflare without token": (
        [("token: fake-token", "")],
        [("dns:#2", "dns.token", "is required when dns.provider is cloudflare (an API token with "
          "Zone:DNS:Edit and Account:Cloudflare Tunnel:Read)")],
    ),
    "token with provider none": (
        [("provider: cloudflare", "provider: none")],
        [("token:", "dns.token", "must be empty when dns.provider is none")],
    ),
    "direct ingress without cloudflare": (
        [("provider: cloudflare", "provider: none"),
         ("token: fake-token", "+ingress:\n  mode: direct"), ("token: fake-token", "")],
        [("mode:", "ingress.mode", "'direct' needs dns.provider: cloudflare (or use mode none)")],
    ),
    "external gateway missing with the default ingress mode": (
        [("external: 192.168.1.23", "")],
        [("gateways:", "gateways.external", "is required when ingress.mode is cloudflare-tunnel "
          "(the default); or set ingress.mode: none")],
    ),
    "reserved node name": (
        [("- name: k8s-1", "- name: worker")],
        [("name: worker", "nodes[1].name",
          "is reserved for the shared Talos patch directories; choose another node name")],
    ),
    "node name not a DNS label": (
        [("- name: k8s-1", "- name: K8s_1")],
        [("name: K8s_1", "nodes[1].name", "must be a DNS label: lowercase letters, digits and "
          "'-', at most 63 characters, not starting or ending with '-' (got 'K8s_1')")],
    ),
    "duplicate node name": (
        [("- name: k8s-1", "- name: k8s-0")],
        [("name: k8s-0#2", "nodes[1].name", "name 'k8s-0' is also used by nodes[0]")],
    ),
    "uppercase MAC": (
        [('mac_addr: "02:00:00:00:00:11"', "mac_addr: 02:00:00:00:00:AB")],
        [("mac_addr: 02:00:00:00:00:AB", "nodes[1].mac_addr",
          "must be a lowercase MAC address like aa:bb:cc:dd:ee:ff (got '02:00:00:00:00:AB')")],
    ),
    "duplicate MAC": (
        [('mac_addr: "02:00:00:00:00:11"', 'mac_addr: "02:00:00:00:00:10"')],
        [('mac_addr: "02:00:00:00:00:10"#2', "nodes[1].mac_addr",
          "MAC address '02:00:00:00:00:10' is also used by nodes[0]")],
    ),
    "no controller": (
        [("controller: true", "controller: false")],
        [("nodes:", "nodes", "needs at least one controller (a node with controller: true)")],
    ),
    "no schematic anywhere": (
        [("talos:", ""), (f"schematic_id: {SCHEMATIC}", "")],
        [("schema_version", "talos.schematic_id", "is required because no node sets its own "
          "schematic_id; create one at https://factory.talos.dev")],
    ),
    "one node without a schematic": (
        [("talos:", ""), (f"schematic_id: {SCHEMATIC}", ""),
         ("controller: true", f"controller: true\nschematic_id: {SCHEMATIC}")],
        [("name: k8s-1", "nodes[1].schematic_id",
          "is required: set it on this node or set talos.schematic_id for all nodes")],
    ),
    "mtu out of range": (
        [("controller: true", "controller: true\nmtu: 1400")],
        [("mtu", "nodes[0].mtu", "must be from 1450 to 9000 (got 1400)")],
    ),
}

VALID: dict[str, list[Change]] = {
    "explicit default gateway inside": [
        ("node_cidr: 192.168.1.0/24", "+  default_gateway: 192.168.1.254")],
    "disjoint custom networks": [
        ("kubernetes:", "+  pod_cidr: 10.100.0.0/16\n  service_cidr: 10.101.0.0/16")],
    "coredns inside service_cidr": [("kubernetes:", "+  coredns_addr: 10.43.0.53")],
    "gateways outside node_cidr with BGP": [
        BGP_ON, ("internal: 192.168.1.21", "internal: 10.99.0.1"),
        ("dns: 192.168.1.22", "dns: 10.99.0.2")],
    "asn and vlan as numeric strings": [
        BGP_ON, ("router_asn: 64513", 'router_asn: "4200000000"'),
        ("node_cidr: 192.168.1.0/24", '+  vlan_tag: "20"')],
    "http url": [(HTTPS, "url: http://git.lan/me/ops")],
    "ssh url on github.com": [(HTTPS, "url: ssh://git@github.com/me/ops")],
    "kernel disk name": [("disk: /dev/sda", "disk: nvme0n1")],
    "loadbalancer_range on the node network": [
        ("talos:", "cilium:\n  loadbalancer_range: 192.168.1.224/28\ntalos:")],
    "ssh url on gitlab.com": [
        (HTTPS, "url: ssh://git@gitlab.com/me/ops.git\nwebhook_provider: gitlab")],
    "ssh url on codeberg.org": [(HTTPS, "url: ssh://git@codeberg.org/me/ops")],
    "ssh url with known_hosts": [
        (HTTPS, "url: ssh://git@git.example.com/me/ops.git\n"
                "known_hosts: git.example.com ssh-ed25519 AAAAC3Nz")],
    "dns provider none without ingress": [
        ("provider: cloudflare", "provider: none"), ("token: fake-token", ""),
        ("external: 192.168.1.23", "")],
    "ingress none without an external gateway": [
        ("external: 192.168.1.23", ""), ("token: fake-token", "+ingress:\n  mode: none")],
    "per-node schematics only": [
        ("talos:", ""), (f"schematic_id: {SCHEMATIC}", ""),
        ("controller: true", f"controller: true\nschematic_id: {SCHEMATIC}"),
        ("controller: false", f"controller: false\nschematic_id: {SCHEMATIC}")],
    "mtu at the bounds": [
        ("controller: true", "controller: true\nmtu: 9000"),
        ("controller: false", "controller: false\nmtu: 1450")],
}
# fmt: on


def test_base_config_is_valid(tmp_path: Path) -> None:
    assert problems(write(tmp_path, BASE)) == []


@pytest.mark.parametrize("changes", VALID.values(), ids=VALID.keys())
def test_valid_variants_load(tmp_path: Path, changes: list[Change]) -> None:
    assert problems(write(tmp_path, edit(BASE, *changes))) == []


@pytest.mark.parametrize(("changes", "expected"), BROKEN.values(), ids=BROKEN.keys())
def test_broken_rule_reports_key_and_line(
    tmp_path: Path, changes: list[Change], expected: list[Expected]
) -> None:
    text = edit(BASE, *changes)
    wanted = [f"cluster.yaml:{where(text, anchor)} {key}: {msg}" for anchor, key, msg in expected]
    assert problems(write(tmp_path, text)) == wanted
