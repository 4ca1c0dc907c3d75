"""Whole rendered trees of real configs, compared with committed snapshots.

Side files are fixed fakes so the snapshots are byte-stable; secrets appear in
plaintext here because this is the in-memory render, before encryption.
Refresh with `task test:update-golden` and review the diff.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import paths
from generator.config import load_cluster
from generator.render.context import build_context, load_versions
from generator.render.tree import render_tree
from generator.sidefiles import SideFiles

FIXTURES = Path(__file__).resolve().parents[1] / "config" / "fixtures" / "valid"

CONFIGS = {
    "sample": paths.SAMPLE_CONFIG,
    "single-node": FIXTURES / "single-node.yaml",
    "bgp": FIXTURES / "bgp.yaml",
    "dns-none": FIXTURES / "dns-none.yaml",
    "ssh-bundled-host": FIXTURES / "ssh-bundled-host.yaml",
    "all-features": FIXTURES / "all-features.yaml",
}

FAKE = "golden-fake-not-a-secret"
SIDE = SideFiles(
    age_public_key="age1goldengoldengoldengoldengoldengoldengoldengoldengoldenqqqqqq",
    age_private_key="AGE-SECRET-KEY-1GOLDEN-FAKE-NOT-A-KEY",
    webhook_token="0123456789abcdef0123456789abcdef",
    deploy_key="-----BEGIN OPENSSH PRIVATE KEY-----\ngolden\n-----END OPENSSH PRIVATE KEY-----\n",
    deploy_key_pub="ssh-ed25519 AAAAgoldenfake flux",
    tunnel_id="6f2a1c3e-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
    tunnel_account=FAKE,
    tunnel_secret=FAKE,
    tunnel_token=FAKE,
)


# Variants of the sample: (dotted key, value) changes applied to a copy.
VARIANTS: dict[str, dict[str, Any]] = {
    "monitoring-kube-prometheus-stack": {
        "features.monitoring.enabled": True,
        "features.monitoring.stack": "kube-prometheus-stack",
        "features.monitoring.alerting.receivers": [
            {"name": "phone", "type": "ntfy", "url": "https://ntfy.sh/golden-fake"}
        ],
        "features.flux_notifications.enabled": True,
        "features.flux_notifications.provider": "discord",
        "features.flux_notifications.address": "https://discord.com/api/webhooks/golden/fake",
    },
    "ci-partly-off": {
        "features.ci.security_scan": False,
        "features.ci.sbom": False,
        "features.ci.renovate": False,
    },
}


def _variant(name: str, directory: Path) -> Path:
    data = yaml.safe_load(paths.SAMPLE_CONFIG.read_text())
    for dotted, value in VARIANTS[name].items():
        *parents, leaf = dotted.split(".")
        node = data
        for key in parents:
            if node.get(key) is None:  # a section whose keys are all commented out
                node[key] = {}
            node = node[key]
        node[leaf] = value
    config = directory / "cluster.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return config


@pytest.mark.parametrize("name", sorted([*CONFIGS, *VARIANTS]))
def test_rendered_tree_matches_snapshot(
    name: str, tmp_path: Path, assert_golden: Callable[[Mapping[str, bytes], str], None]
) -> None:
    config = CONFIGS[name] if name in CONFIGS else _variant(name, tmp_path)
    cluster = load_cluster(config)
    context = build_context(cluster.context(), SIDE, load_versions(paths.VERSIONS_FILE))
    assert_golden(render_tree(context).files, name)
