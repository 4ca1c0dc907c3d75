"""cluster.yaml for the e2e workflow: cluster.sample.yaml, a variant, and the lab's facts.

    python .github/e2e/cluster_config.py VARIANT_FILE NODES_JSON > cluster.yaml

VARIANT_FILE: a mapping of dotted keys to values (`features.monitoring.enabled: true`),
merged over the sample. NODES_JSON: the nodes e2e.sh discovered, a list of
{"address", "mac_addr", "disk", "controller"}. Environment: E2E_CIDR (the VMs' /24),
E2E_GATEWAY (their router: the runner, where the git server listens), E2E_GIT_PORT.

The lab replaces what the sample cannot know (network, nodes, repository) and what it
cannot reach: no Cloudflare account (dns.provider none, so no public ingress) and no
webhook from a Git host.
"""

from __future__ import annotations

import ipaddress
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

SAMPLE = Path(__file__).resolve().parents[2] / "cluster.sample.yaml"
# Addresses of the lab network the VMs never get (the provisioner hands out .2 onwards).
API_HOST, INTERNAL_HOST, DNS_HOST = 200, 201, 202


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = data
    for key in parents:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[leaf] = value


def lab(cidr: str, gateway: str, git_port: str, nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """Dotted keys the lab sets, whatever the variant."""
    network = ipaddress.ip_network(cidr)
    host = network.network_address
    return {
        "network.node_cidr": str(network),
        "network.default_gateway": gateway,
        "kubernetes.api.addr": str(host + API_HOST),
        "gateways": {"internal": str(host + INTERNAL_HOST), "dns": str(host + DNS_HOST)},
        "repository.url": f"http://{gateway}:{git_port}/repo.git",
        "repository.branch": "main",
        "repository.webhook_provider": "none",
        "dns.provider": "none",
        "dns.token": "",
        "ingress.mode": "none",
        "nodes": [
            {
                "name": f"e2e-{index}",
                "address": node["address"],
                "controller": bool(node["controller"]),
                "disk": node["disk"],
                "mac_addr": str(node["mac_addr"]).lower(),
            }
            for index, node in enumerate(nodes)
        ],
    }


def build(variant: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    data = yaml.safe_load(SAMPLE.read_text(encoding="utf-8"))
    for dotted, value in {**variant, **changes}.items():
        set_dotted(data, dotted, value)
    return data  # type: ignore[no-any-return]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    variant = yaml.safe_load(Path(argv[0]).read_text(encoding="utf-8")) or {}
    nodes = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    changes = lab(
        os.environ.get("E2E_CIDR", "10.9.0.0/24"),
        os.environ["E2E_GATEWAY"],
        os.environ.get("E2E_GIT_PORT", "8418"),
        nodes,
    )
    yaml.safe_dump(build(variant, changes), sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
