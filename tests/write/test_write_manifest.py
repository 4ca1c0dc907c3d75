"""The ownership manifest on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.write.manifest import (
    Manifest,
    ManifestError,
    dump_manifest,
    load_manifest,
)
from tests.write.saved import save_manifest


def test_missing_manifest_is_empty(tmp_path: Path) -> None:
    assert load_manifest(tmp_path).files == {}


def test_round_trip_is_deterministic(tmp_path: Path) -> None:
    manifest = Manifest("9.9.9", "abc", {"z.yaml": "1" * 64, "a/b.yaml": "2" * 64})

    save_manifest(tmp_path, manifest)
    raw = (tmp_path / ".clustergen" / "manifest.json").read_bytes()

    assert load_manifest(tmp_path) == manifest
    assert raw == dump_manifest(Manifest("9.9.9", "abc", dict(reversed(manifest.files.items()))))
    assert raw.endswith(b"}\n")
    assert list(json.loads(raw)["files"]) == ["a/b.yaml", "z.yaml"]
    assert [p.name for p in (tmp_path / ".clustergen").iterdir()] == ["manifest.json"]


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[]",
        '{"generator": "x"}',
        '{"files": {"a": 1}}',
        '{"files": []}',
        # A base copy's name is a blob id, never a path: nothing to climb out with.
        '{"files": {}, "bases": {"a": "../../etc/passwd"}}',
    ],
)
def test_corrupt_manifest_says_how_to_recover(tmp_path: Path, content: str) -> None:
    path = tmp_path / ".clustergen" / "manifest.json"
    path.parent.mkdir()
    path.write_text(content)

    with pytest.raises(ManifestError) as err:
        load_manifest(tmp_path)

    message = str(err.value)
    assert ".clustergen/manifest.json is corrupt" in message
    assert "git checkout -- .clustergen/manifest.json" in message
    assert "--force" in message


def test_bases_and_released_round_trip_and_are_absent_when_empty(tmp_path: Path) -> None:
    manifest = Manifest(
        "9.9.9", "abc", {"a.yaml": "1" * 64}, bases={"a.yaml": "f" * 40}, released={"b": "2" * 64}
    )

    save_manifest(tmp_path, manifest)

    assert load_manifest(tmp_path) == manifest
    plain = json.loads(dump_manifest(Manifest("9.9.9", "abc", {"a.yaml": "1" * 64})))
    assert "bases" not in plain and "released" not in plain
