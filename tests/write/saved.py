"""A manifest put on disk as a configure run leaves it, for tests that start from one."""

from __future__ import annotations

from pathlib import Path

from generator.write.manifest import Manifest, dump_manifest, manifest_path


def save_manifest(root: Path, manifest: Manifest) -> None:
    """Write `manifest` to `root/.clustergen/manifest.json` (a configure writes it in its
    transaction; tests only need the bytes in place)."""
    manifest_path(root).parent.mkdir(parents=True, exist_ok=True)
    manifest_path(root).write_bytes(dump_manifest(manifest))
