"""The state an older render left: `data` on disk, in the manifest and as the base copy,
as if clustergen had written it (a template since changed, a config since edited)."""

from __future__ import annotations

import json
from pathlib import Path

from generator.paths import MANIFEST_PATH
from generator.write.bases import blob_id
from generator.write.manifest import sha256_hex


def as_if_clustergen_wrote(workdir: Path, path: str, data: bytes) -> None:
    """Put `data` at `path` so that configure owns it (its sha256 in the manifest, its
    base copy under .clustergen/base/) and would replace it with the render."""
    (workdir / path).write_bytes(data)
    (workdir / ".clustergen/base" / blob_id(data)).write_bytes(data)
    manifest_file = workdir / MANIFEST_PATH
    manifest = json.loads(manifest_file.read_text())
    manifest["files"][path] = sha256_hex(data)
    manifest.setdefault("bases", {})[path] = blob_id(data)
    manifest_file.write_text(json.dumps(manifest))
