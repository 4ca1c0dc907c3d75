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

import pytest

from tests.fakes import golden_side
from tests.rendering import render_config, sample_with, write_config

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


def owned(tree: Mapping[str, bytes]) -> dict[str, bytes]:
    """The files of `tree` the backups feature owns."""
    return {p: c for p, c in tree.items() if p.startswith(OWNED) or p in OWNED_FILES}


def render_backups(changes: Mapping[str, Any], workdir: Path) -> dict[str, bytes]:
    """The files the backups feature owns, from cluster.sample.yaml with `changes`."""
    config = write_config(sample_with(changes), workdir)
    return owned(render_config(config, golden_side(AGE_KEY)).files)


def test_backups_off_leaves_nothing(tmp_path: Path) -> None:
    monitoring_on = {"features.monitoring.enabled": True}
    assert render_backups(monitoring_on, tmp_path) == {}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_backups_tree(assert_golden: Any, tmp_path: Path, name: str) -> None:
    assert_golden(render_backups(SCENARIOS[name], tmp_path), name, within=owned)
