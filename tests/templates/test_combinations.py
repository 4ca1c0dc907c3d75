"""Every combination of the mode switches the rules accept renders a tree that serves it.

The cross product: ingress.mode × dns.provider × BGP on/off × gateways on/off the node
network × 1/3 controllers × 0/2 workers. A combination the rules reject must be one we
expect them to reject, with a message naming the key; every other one is rendered in
memory (no sops) and checked for: every LoadBalancer address is in the Cilium pool, is
announced (ARP on the node network, BGP anywhere), and is off the node network only with
BGP; and no reference between rendered objects dangles.
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from generator import paths
from generator.config import load_cluster
from generator.errors import ConfigError
from generator.render.context import build_context, load_versions
from generator.render.tree import render_tree
from generator.validate.documents import parse_tree
from generator.validate.flux_graph import check_graph
from generator.validate.flux_tree import build_model
from generator.validate.kustomize import Tree, load_kustomizations
from generator.validate.references import check_references
from tests.fakes import side_files
from tests.rendering import sample_with, shared_templates, write_config
from tests.templates.manifests import objects, of_kind, unlisted_or_dangling

pytestmark = pytest.mark.slow  # seconds of work: scheduled first (tests/conftest.py)

NODE_CIDR = ipaddress.IPv4Network("192.168.1.0/24")
ON_LINK = ("192.168.1.21", "192.168.1.22", "192.168.1.23")
OFF_LINK = ("10.99.0.1", "10.99.0.2", "10.99.0.3")
BGP = {"router_addr": "192.168.1.1", "router_asn": 64513, "node_asn": 64514}

INGRESS = ("cloudflare-tunnel", "direct", "none")
DNS = ("cloudflare", "none")
COMBINATIONS = list(itertools.product(INGRESS, DNS, (False, True), (True, False), (1, 3), (0, 2)))


def _nodes(controllers: int, workers: int) -> list[dict[str, Any]]:
    return [
        {
            "name": f"k8s-{i}",
            "address": f"192.168.1.{10 + i}",
            "controller": i < controllers,
            "disk": "/dev/sda",
            "mac_addr": f"02:00:00:00:00:{10 + i}",
        }
        for i in range(controllers + workers)
    ]


def _config(combo: tuple[Any, ...], lb_range: str | None = None) -> dict[str, Any]:
    ingress, dns, bgp, on_link, controllers, workers = combo
    internal, dns_addr, external = ON_LINK if on_link else OFF_LINK
    changes: dict[str, Any] = {
        "ingress.mode": ingress,
        "dns.provider": dns,
        "dns.token": "fake-token" if dns == "cloudflare" else "",
        "gateways.internal": internal,
        "gateways.dns": dns_addr,
        "gateways.external": external,
        "nodes": _nodes(controllers, workers),
    }
    if bgp:
        changes["cilium.bgp"] = BGP
    if lb_range:
        changes["cilium.loadbalancer_range"] = lb_range
    return sample_with(changes)


def _expected_rejections(combo: tuple[Any, ...]) -> set[str]:
    ingress, dns, bgp, on_link, _, _ = combo
    keys: set[str] = set()
    if dns == "none" and ingress != "none":
        keys.add("ingress.mode")
    if not bgp and not on_link:
        keys |= {"gateways.internal", "gateways.dns", "gateways.external"}
    return keys


@functools.cache
def _outcome(
    combo: tuple[Any, ...], workdir: Path, lb_range: str | None = None
) -> dict[str, bytes] | ConfigError:
    """The rendered tree of one combination, or the rules' rejection (cached per module)."""
    name = "-".join(str(part) for part in combo) + (
        f"-{lb_range.replace('/', '_')}" if lb_range else ""
    )
    config = write_config(_config(combo, lb_range), workdir / name)
    try:
        cluster = load_cluster(config).context()
    except ConfigError as err:
        return err
    context = build_context(cluster, side_files(cluster), load_versions(paths.VERSIONS_FILE))
    return _served(render_tree(context, template_root=shared_templates(SERVING)).files)


# What serves the modes: the Flux tree and its bootstrap. Rendered on their own (a quarter
# less to render for each combination); test_the_serving_templates_render_as_in_the_whole_tree
# shows they render as in the whole tree.
SERVING = ("kubernetes", "bootstrap")


def _served(files: dict[str, bytes]) -> dict[str, bytes]:
    folders = tuple(f"{name}/" for name in SERVING)
    return {path: content for path, content in files.items() if path.startswith(folders)}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("combinations")


def _ids(combo: tuple[Any, ...]) -> str:
    ingress, dns, bgp, on_link, controllers, workers = combo
    bgp_text = "bgp" if bgp else "l2"
    link = "on-link" if on_link else "off-link"
    return f"{ingress}-{dns}-{bgp_text}-{link}-{controllers}c{workers}w"


def _walk(data: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield str(key), value
            yield from _walk(value)
    elif isinstance(data, list):
        for item in data:
            yield from _walk(item)


def loadbalancer_addresses(tree: dict[str, bytes]) -> set[ipaddress.IPv4Address]:
    """Every address a rendered object asks Cilium LB IPAM for (annotations, loadBalancerIP),
    in plain objects and in HelmRelease values alike."""
    found: set[ipaddress.IPv4Address] = set()
    for _, doc in objects(tree):
        for key, value in _walk(doc):
            if key in ("lbipam.cilium.io/ips", "loadBalancerIP") and isinstance(value, str):
                found |= {ipaddress.IPv4Address(a.strip()) for a in value.split(",")}
    return found


def _in_block(address: ipaddress.IPv4Address, block: dict[str, str]) -> bool:
    if "cidr" in block:
        return address in ipaddress.IPv4Network(block["cidr"])
    start, stop = ipaddress.IPv4Address(block["start"]), ipaddress.IPv4Address(block["stop"])
    return start <= address <= stop


def _only(tree: dict[str, bytes], kind: str) -> dict[str, Any] | None:
    found = [doc for _, doc in of_kind(tree, kind)]
    assert len(found) <= 1, f"{len(found)} {kind} rendered"
    return found[0] if found else None


def _cilium_values(tree: dict[str, bytes]) -> dict[str, Any]:
    releases = [d for _, d in of_kind(tree, "HelmRelease") if d["metadata"]["name"] == "cilium"]
    values: dict[str, Any] = releases[0]["spec"]["values"]
    return values


def _dangling(tree: dict[str, bytes]) -> list[str]:
    """Kustomization entries and object references that point at nothing rendered."""
    kubernetes = tree
    docs, findings = parse_tree(kubernetes)
    kdirs, kustomize_findings = load_kustomizations(Tree(kubernetes), docs)
    model = build_model(kubernetes, docs, Tree(kubernetes), kdirs, None)
    everything = [*findings, *kustomize_findings, *model.findings]
    everything += check_graph(model) + check_references(model)
    errors = [str(f) for f in everything if f.severity == "error"]
    in_flux = {p: c for p, c in tree.items() if p.startswith("kubernetes/")}
    return errors + unlisted_or_dangling(in_flux)


@pytest.mark.parametrize("combo", COMBINATIONS, ids=_ids)
def test_combination_is_served_or_rejected(combo: tuple[Any, ...], workdir: Path) -> None:
    outcome = _outcome(combo, workdir)
    expected = _expected_rejections(combo)
    if isinstance(outcome, ConfigError):
        keys = {
            str(p).split(" ")[1].rstrip(":") for p in outcome.problems if not isinstance(p, str)
        }
        assert keys == expected, str(outcome)
        assert all("cluster.yaml:" in str(p) for p in outcome.problems)
        return
    assert not expected, f"accepted, but the rules should reject it ({expected})"
    _assert_served(outcome, bgp=combo[2])


def _block_ends(block: dict[str, str]) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
    if "cidr" in block:
        net = ipaddress.IPv4Network(block["cidr"])
        return net.network_address, net.broadcast_address
    return ipaddress.IPv4Address(block["start"]), ipaddress.IPv4Address(block["stop"])


def _assert_served(outcome: dict[str, bytes], *, bgp: bool) -> None:
    """The invariants of an accepted combination, on its rendered tree."""
    tree = {p: c for p, c in outcome.items() if p.startswith("kubernetes/")}
    pool = _only(tree, "CiliumLoadBalancerIPPool")
    assert pool is not None
    blocks = pool["spec"]["blocks"]
    cilium = _cilium_values(tree)
    l2_policy = _only(tree, "CiliumL2AnnouncementPolicy")
    l2 = l2_policy is not None and cilium.get("l2announcements") == {"enabled": True}
    bgp_announces = (
        _only(tree, "CiliumBGPAdvertisement") is not None
        and _only(tree, "CiliumBGPClusterConfig") is not None
        and cilium.get("bgpControlPlane") == {"enabled": True}
    )
    assert bgp_announces == bgp
    addresses = loadbalancer_addresses(tree)
    assert addresses, "no LoadBalancer address rendered"
    for address in sorted(addresses):
        assert any(_in_block(address, b) for b in blocks), f"{address} is in no pool block"
    # Whatever the pool may hand out is announced where hosts look for it.
    for block in blocks:
        first, last = _block_ends(block)
        if first in NODE_CIDR or last in NODE_CIDR:
            assert l2, f"{block} is on the node network but nothing answers ARP for it"
        if first not in NODE_CIDR or last not in NODE_CIDR:
            assert bgp_announces, f"{block} is off the node network and BGP is off"
    assert _dangling(outcome) == []


@pytest.mark.parametrize(
    ("bgp", "lb_range"),
    [(False, "192.168.1.240-192.168.1.250"), (True, "10.99.1.0/24"), (True, "192.168.1.224/28")],
)
def test_a_loadbalancer_range_is_pooled_and_announced(
    workdir: Path, bgp: bool, lb_range: str
) -> None:
    outcome = _outcome(("direct", "cloudflare", bgp, True, 1, 0), workdir, lb_range)
    assert not isinstance(outcome, ConfigError), str(outcome)
    kubernetes = {p: c for p, c in outcome.items() if p.startswith("kubernetes/")}
    pool = _only(kubernetes, "CiliumLoadBalancerIPPool")
    assert pool is not None and len(pool["spec"]["blocks"]) == 4
    _assert_served(outcome, bgp=bgp)


def test_the_walk_renders_and_rejects() -> None:
    rejected = [c for c in COMBINATIONS if _expected_rejections(c)]
    assert 0 < len(rejected) < len(COMBINATIONS)


def test_the_serving_templates_render_as_in_the_whole_tree(workdir: Path) -> None:
    """The combination that turns on the most (tunnel, BGP, off-link gateways, workers)."""
    combo = ("cloudflare-tunnel", "cloudflare", True, False, 3, 2)
    outcome = _outcome(combo, workdir)
    assert not isinstance(outcome, ConfigError), str(outcome)
    cluster = load_cluster(write_config(_config(combo), workdir / "whole")).context()
    context = build_context(cluster, side_files(cluster), load_versions(paths.VERSIONS_FILE))
    assert _served(render_tree(context).files) == outcome
