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

from generator import paths
from tests.fakes import GOLDEN_SIDE
from tests.rendering import render_config, sample_with, write_config

FIXTURES = Path(__file__).resolve().parents[1] / "config" / "fixtures" / "valid"

CONFIGS = {
    "sample": paths.SAMPLE_CONFIG,
    "single-node": FIXTURES / "single-node.yaml",
    "bgp": FIXTURES / "bgp.yaml",
    "dns-none": FIXTURES / "dns-none.yaml",
    "ssh-bundled-host": FIXTURES / "ssh-bundled-host.yaml",
    "all-features": FIXTURES / "all-features.yaml",
}

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


@pytest.mark.parametrize("name", sorted([*CONFIGS, *VARIANTS]))
def test_rendered_tree_matches_snapshot(
    name: str, tmp_path: Path, assert_golden: Callable[[Mapping[str, bytes], str], None]
) -> None:
    if name in CONFIGS:
        config = CONFIGS[name]
    else:
        config = write_config(sample_with(VARIANTS[name]), tmp_path)
    assert_golden(render_config(config, GOLDEN_SIDE).files, name)
