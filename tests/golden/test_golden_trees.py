"""Whole rendered trees of real configs, compared with committed snapshots.

Side files are fixed fakes so the snapshots are byte-stable; secrets appear in
plaintext here because this is the in-memory render, before encryption.
The sample is kept whole; every other tree as its delta against the reference renders
(conftest.py). Refresh with `task test:update-golden` and review the diff.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fakes import GOLDEN_SIDE
from tests.golden.snapshot import FIXTURES, REFERENCE_CONFIGS, GoldenSnapshots, References
from tests.rendering import render_config, sample_with, write_config

CONFIGS = {
    **REFERENCE_CONFIGS,
    "single-node": FIXTURES / "single-node.yaml",
    "bgp": FIXTURES / "bgp.yaml",
    "dns-none": FIXTURES / "dns-none.yaml",
    "ssh-bundled-host": FIXTURES / "ssh-bundled-host.yaml",
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
    name: str,
    tmp_path: Path,
    assert_golden: GoldenSnapshots,
    golden_references: References,
) -> None:
    if name in REFERENCE_CONFIGS:
        assert_golden(golden_references.tree(name), name)  # rendered once per session
        return
    if name in CONFIGS:
        config = CONFIGS[name]
    else:
        config = write_config(sample_with(VARIANTS[name]), tmp_path)
    assert_golden(render_config(config, GOLDEN_SIDE).files, name)
