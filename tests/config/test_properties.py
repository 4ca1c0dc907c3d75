"""Properties: random valid configs load; breaking one key of one fails naming that key."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.config import load_cluster
from generator.errors import ConfigError
from tests import documents
from tests.features import FEATURES, values_required

Config = dict[str, Any]
SCHEMATIC = "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba"
RESERVED = {"global", "controller", "worker"}
LABELS = st.from_regex(r"\A[a-z][a-z0-9-]{0,12}[a-z0-9]\Z").filter(lambda s: s not in RESERVED)
# Features switched on or off at random: every one that needs no other value (monitoring,
# which does, is drawn below). Derived from the schema and the sample: tests/features.py.
FLAGS = tuple(name for name in FEATURES if not values_required(name))
URLS = (
    "https://github.com/example/home-ops",
    "http://git.lan/ops/cluster.git",
    "ssh://git@github.com/example/home-ops.git",
    "ssh://git@codeberg.org/example/home-ops",
)


@st.composite
def configs(draw: st.DrawFn) -> Config:
    third = draw(st.integers(0, 255))
    net = f"192.168.{third}"
    count = draw(st.integers(1, 5))
    controllers = draw(st.integers(1, count))
    hosts = draw(st.lists(st.integers(2, 254), min_size=count + 4, max_size=count + 4, unique=True))
    api, internal, dns_gw, external, *node_hosts = hosts
    names = draw(st.lists(LABELS, min_size=count, max_size=count, unique=True))
    provider = draw(st.sampled_from(["cloudflare", "none"]))
    modes = ["cloudflare-tunnel", "direct", "none"] if provider == "cloudflare" else ["none"]
    config: Config = {
        "schema_version": 2,
        "network": {"node_cidr": f"{net}.0/24"},
        "kubernetes": {"api": {"addr": f"{net}.{api}"}},
        "gateways": {"internal": f"{net}.{internal}", "dns": f"{net}.{dns_gw}",
                     "external": f"{net}.{external}"},
        "repository": {"url": draw(st.sampled_from(URLS))},
        "domain": {"name": draw(st.sampled_from(["example.com", "home.example.org", "k8s.lan"]))},
        "dns": {"provider": provider, "token": "fake-token" if provider == "cloudflare" else ""},
        "ingress": {"mode": draw(st.sampled_from(modes))},
        "talos": {"schematic_id": SCHEMATIC},
        "nodes": [
            {"name": names[i], "address": f"{net}.{node_hosts[i]}", "controller": i < controllers,
             "disk": "/dev/sda", "mac_addr": f"02:00:00:00:{third:02x}:{i:02x}",
             "mtu": draw(st.integers(1450, 9000))}
            for i in range(count)
        ],
        "features": {name: {"enabled": draw(st.booleans())} for name in FLAGS},
    }  # fmt: skip
    vlan = draw(st.one_of(st.none(), st.integers(1, 4094), st.integers(1, 4094).map(str)))
    if vlan is not None:
        config["network"]["vlan_tag"] = vlan
    if draw(st.booleans()):
        asn = st.one_of(st.integers(1, 4294967295), st.integers(1, 4294967295).map(str))
        config["cilium"] = {"bgp": {"router_addr": f"{net}.1", "router_asn": draw(asn),
                                    "node_asn": draw(asn)}}  # fmt: skip
    monitoring = draw(st.booleans())
    config["features"]["monitoring"] = {
        "enabled": monitoring,
        "logs": {"enabled": monitoring and draw(st.booleans())},
    }
    return config


def _set(config: Config, path: tuple[str | int, ...], value: Any) -> None:
    for part in path[:-1]:
        config = config[part]  # type: ignore[index]
    config[path[-1]] = value  # type: ignore[index]


# (name, how to break the config, the key the error must name). `{i}` is a node index.
MUTATIONS: list[tuple[str, Callable[[Config, int], None], str]] = [
    ("host bits", lambda c, i: _set(c, ("network", "node_cidr"), c["network"]["node_cidr"].replace(".0/", ".9/")), "network.node_cidr"),  # noqa: E501
    ("api outside", lambda c, i: _set(c, ("kubernetes", "api", "addr"), "172.16.0.1"), "kubernetes.api.addr"),  # noqa: E501
    ("gateway clash", lambda c, i: _set(c, ("gateways", "internal"), c["kubernetes"]["api"]["addr"]), "gateways.internal"),  # noqa: E501
    ("bad address", lambda c, i: _set(c, ("nodes", i, "address"), "300.1.1.1"), "nodes[{i}].address"),  # noqa: E501
    ("mtu", lambda c, i: _set(c, ("nodes", i, "mtu"), 100), "nodes[{i}].mtu"),
    ("mac case", lambda c, i: _set(c, ("nodes", i, "mac_addr"), c["nodes"][i]["mac_addr"].upper().replace("02", "0A")), "nodes[{i}].mac_addr"),  # noqa: E501
    ("reserved name", lambda c, i: _set(c, ("nodes", i, "name"), "global"), "nodes[{i}].name"),
    ("unknown key", lambda c, i: _set(c, ("domain", "nmae"), "x"), "domain.nmae"),
    ("missing url", lambda c, i: c["repository"].pop("url"), "repository.url"),
    ("enum", lambda c, i: _set(c, ("cilium",), {"loadbalancer_mode": "fast"}), "cilium.loadbalancer_mode"),  # noqa: E501
    ("vlan", lambda c, i: _set(c, ("network", "vlan_tag"), 5000), "network.vlan_tag"),
    ("token", lambda c, i: _set(c, ("dns", "token"), "" if c["dns"]["provider"] == "cloudflare" else "t"), "dns.token"),  # noqa: E501
    ("backups", lambda c, i: _set(c, ("features", "backups"), {"enabled": True}), "features.backups.s3.endpoint"),  # noqa: E501
    ("no controller", lambda c, i: [n.update(controller=False) for n in c["nodes"]], "nodes"),
]  # fmt: skip


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("properties")


def _write(workdir: Path, config: Config) -> Path:
    path = workdir / "cluster.yaml"
    path.write_text(documents.dump(config, sort_keys=False), encoding="utf-8")
    return path


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=configs())
def test_random_valid_configs_load(workdir: Path, config: Config) -> None:
    cluster = load_cluster(_write(workdir, config))
    assert cluster.derived["node_count"] == len(config["nodes"])
    assert cluster.derived["controller_count"] >= 1


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=configs(), mutation=st.sampled_from(MUTATIONS), node=st.integers(0, 4))
def test_one_broken_key_is_named(
    workdir: Path,
    config: Config,
    mutation: tuple[str, Callable[[Config, int], None], str],
    node: int,
) -> None:
    _, breaks, key = mutation
    index = node % len(config["nodes"])
    broken = copy.deepcopy(config)
    breaks(broken, index)
    with pytest.raises(ConfigError) as caught:
        load_cluster(_write(workdir, broken))
    assert key.format(i=index) in [p.key for p in caught.value.problems]
