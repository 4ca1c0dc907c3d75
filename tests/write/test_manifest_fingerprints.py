"""The manifest's optional `fingerprints` section: round trip, old manifests, corruption."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.write.manifest import (
    Manifest,
    ManifestError,
    dump_manifest,
    load_manifest,
    manifest_path,
)
from generator.write.writer import plan_write
from tests.write.saved import save_manifest


def test_round_trip_with_fingerprints(tmp_path: Path) -> None:
    manifest = Manifest("1.0", "d", {"a.sops.yaml": "1" * 64}, {"a.sops.yaml": "f" * 64})
    save_manifest(tmp_path, manifest)
    assert load_manifest(tmp_path) == manifest


def test_without_fingerprints_the_format_is_unchanged(tmp_path: Path) -> None:
    raw = json.loads(dump_manifest(Manifest("1.0", "d", {"a.yaml": "1" * 64})))
    assert set(raw) == {"generator", "config_digest", "files"}
    # A manifest written before fingerprints existed still loads.
    path = manifest_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(raw))
    assert load_manifest(tmp_path).fingerprints == {}


def test_corrupt_fingerprints_are_reported(tmp_path: Path) -> None:
    path = manifest_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"files": {}, "fingerprints": {"a.sops.yaml": 1}}))
    with pytest.raises(ManifestError, match="fingerprints"):
        load_manifest(tmp_path)


def test_plan_records_fingerprints_of_produced_files_only(tmp_path: Path) -> None:
    files = {"a.sops.yaml": b"ENC\n"}
    plan = plan_write(
        files, tmp_path, load_manifest(tmp_path), fingerprints={"a.sops.yaml": "f", "gone": "g"}
    )
    assert plan.new.fingerprints == {"a.sops.yaml": "f"}
