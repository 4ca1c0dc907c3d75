"""Golden trees of features.backups.

Only the files the backups feature owns are snapshotted (the velero namespace, the Talos
patch, the DR document, the backup runbook): the rest of the tree belongs to other
features' snapshots, and a change there should not churn these. The age key is fixed so
the etcd CronJob's recipient is stable; the credentials are obviously fake.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyrage
import pytest
import yaml

from generator import paths
from generator.config import load_cluster
from generator.render.context import build_context, load_versions
from generator.render.tree import render_tree
from generator.sidefiles import SideFiles
from tests.templates.observability import PENDING_CHARTS

pytestmark = pytest.mark.slow

# A throwaway identity made for these snapshots; it protects nothing.
AGE_KEY = "AGE-SECRET-KEY-1RMSH5AYNCC28ZMP3YV42DAQ6V0TV4PFYJKYG7E7T3EX4M0C3KV4S8CZPYL"
OWNED = ("kubernetes/apps/velero/",)
OWNED_FILES = (
    "talos/patches/controller/machine-features-etcd-backup.yaml",
    "docs/DISASTER_RECOVERY.md",
    "docs/runbooks/backups.md",
)
BACKUPS_ON = {
    "features.backups.enabled": True,
    "features.backups.s3.endpoint": "https://minio.example.net:9000",
    "features.backups.s3.bucket": "cluster-backups",
    "features.backups.s3.access_key": "fake-access-key",
    "features.backups.s3.secret_key": "fake-secret-key",
    "features.backups.excluded_namespaces": ["scratch"],
}
SCENARIOS: dict[str, dict[str, Any]] = {
    "backups-on": BACKUPS_ON,
    "backups-on-monitoring": {**BACKUPS_ON, "features.monitoring.enabled": True},
}


def _sample_with(changes: Mapping[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(paths.SAMPLE_CONFIG.read_text(encoding="utf-8"))
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        target = data
        for key in parents:
            target = target.setdefault(key, {})
        target[leaf] = value
    return data


def render_backups(changes: Mapping[str, Any], workdir: Path) -> dict[str, bytes]:
    """The files the backups feature owns, from cluster.sample.yaml with `changes`."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / paths.CONFIG_NAME
    config.write_text(yaml.safe_dump(_sample_with(changes)), encoding="utf-8")
    identity = pyrage.x25519.Identity.from_str(AGE_KEY)
    side = SideFiles(
        age_public_key=str(identity.to_public()),
        age_private_key=AGE_KEY,
        webhook_token="0123456789abcdef0123456789abcdef",
        deploy_key=None,
        deploy_key_pub=None,
        tunnel_id=None,
        tunnel_account=None,
        tunnel_secret=None,
        tunnel_token=None,
    )
    context = build_context(
        load_cluster(config).context(), side, load_versions(paths.VERSIONS_FILE)
    )
    for name, chart in PENDING_CHARTS.items():
        context["versions"].setdefault("charts", {}).setdefault(name, chart)
    files = render_tree(context).files
    return {p: c for p, c in files.items() if p.startswith(OWNED) or p in OWNED_FILES}


def test_backups_off_leaves_nothing(tmp_path: Path) -> None:
    monitoring_on = {"features.monitoring.enabled": True}
    assert render_backups(monitoring_on, tmp_path) == {}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_backups_tree(assert_golden: Any, tmp_path: Path, name: str) -> None:
    assert_golden(render_backups(SCENARIOS[name], tmp_path), name)
