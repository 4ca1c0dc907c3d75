"""`.clustergen/manifest.json`: which files clustergen wrote, and their sha256.

A file listed here with matching bytes is ours to update or remove; anything
else on disk is the user's. `fingerprints` holds a keyed fingerprint of each
secret's plaintext (see secrets/fingerprint.py), never the plaintext or a
plain hash of it. `overrides` records which built-in template each of the user's
overrides shadowed, and that template's sha256 when it was last rendered
(generator/render/overrides/stale.py).
`bases` names each file's copy of what clustergen last wrote
(write/bases.py, the base of a three-way merge); `released` lists the files the
user took over (`configure --keep-mine`), which clustergen no longer writes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from generator import __version__, paths
from generator.errors import ClusterGenError
from generator.write.bases import is_blob_id


class ManifestError(ClusterGenError):
    """The ownership manifest cannot be read."""


@dataclass(frozen=True)
class Shadowed:
    """The built-in template an override replaced, as the last configure rendered it."""

    template: str  # e.g. "templates/config/kubernetes/apps/default/echo/app/helmrelease.yaml.j2"
    sha256: str  # of the built-in template's bytes


@dataclass(frozen=True)
class Manifest:
    generator: str = __version__
    config_digest: str = ""
    files: dict[str, str] = field(default_factory=dict)  # posix path → sha256 hex
    fingerprints: dict[str, str] = field(default_factory=dict)  # secret path → HMAC hex
    # secret path → HMAC binding its sha256 to its fingerprint (see ownership.py)
    seals: dict[str, str] = field(default_factory=dict)
    # Which key made the seals (a one-way id): after a key rotation they cannot be checked.
    seal_key: str = ""
    # override path ("overrides/…") → the built-in template it shadowed
    overrides: dict[str, Shadowed] = field(default_factory=dict)
    bases: dict[str, str] = field(default_factory=dict)  # path → git blob id of its base copy
    # path → sha256 of its render when the user took it over (or when we last said it changed)
    released: dict[str, str] = field(default_factory=dict)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_path(root: Path) -> Path:
    return root / paths.MANIFEST_PATH


def load_manifest(root: Path) -> Manifest:
    """The manifest under `root`; an empty one when there is none yet."""
    path = manifest_path(root)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Manifest()
    except IsADirectoryError:
        raise ManifestError(
            f"{paths.MANIFEST_PATH} is a directory; clustergen keeps its ownership manifest in "
            "that file: move the directory elsewhere and run again"
        ) from None
    except NotADirectoryError:
        raise ManifestError(
            f"{paths.MANIFEST_PATH.split('/')[0]} is a file; clustergen keeps its ownership "
            "manifest in that directory: move the file elsewhere and run again"
        ) from None
    except OSError as err:
        raise ManifestError(
            f"{paths.MANIFEST_PATH} cannot be read: {err.strerror or err}"
        ) from None
    try:
        data = json.loads(raw)
        files = _string_map(data["files"], "files")
        fingerprints = _string_map(data.get("fingerprints", {}), "fingerprints")
        seals = _string_map(data.get("seals", {}), "seals")
        bases = _string_map(data.get("bases", {}), "bases")
        if not all(is_blob_id(blob) for blob in bases.values()):
            raise ValueError("`bases` must map paths to git blob ids")
        released = _string_map(data.get("released", {}), "released")
        return Manifest(
            str(data.get("generator", "")),
            str(data.get("config_digest", "")),
            files,
            fingerprints,
            seals,
            str(data.get("seal_key", "")),
            _shadowed(data.get("overrides", {})),
            bases,
            released,
        )
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as err:
        raise ManifestError(
            f"{paths.MANIFEST_PATH} is corrupt ({err}). It records which files clustergen "
            "wrote. Restore it with `git checkout -- .clustergen/manifest.json`, or delete it: "
            "configure then adopts generated files whose content matches and reports the "
            "rest as conflicts (`--force` takes them over, keeping .orig copies)."
        ) from err


def _string_map(value: object, name: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError(f"`{name}` must map paths to hex strings")
    return value


def _shadowed(value: object) -> dict[str, Shadowed]:
    if not isinstance(value, dict):
        raise ValueError("`overrides` must map override paths to {template, sha256}")
    found: dict[str, Shadowed] = {}
    for path, entry in value.items():
        shown = _string_map(entry, f"overrides.{path}")
        found[str(path)] = Shadowed(shown["template"], shown["sha256"])
    return found


def dump_manifest(manifest: Manifest) -> bytes:
    data: dict[str, object] = {
        "generator": manifest.generator,
        "config_digest": manifest.config_digest,
        "files": dict(sorted(manifest.files.items())),
    }
    if manifest.fingerprints:  # absent for trees without secrets, as before fingerprints existed
        data["fingerprints"] = dict(sorted(manifest.fingerprints.items()))
    if manifest.seals:
        data["seals"] = dict(sorted(manifest.seals.items()))
        data["seal_key"] = manifest.seal_key
    if manifest.overrides:  # absent without overrides, as before they existed
        data["overrides"] = {
            path: {"template": s.template, "sha256": s.sha256}
            for path, s in sorted(manifest.overrides.items())
        }
    if manifest.bases:
        data["bases"] = dict(sorted(manifest.bases.items()))
    if manifest.released:
        data["released"] = dict(sorted(manifest.released.items()))
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()
