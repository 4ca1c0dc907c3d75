"""What a write records in the manifest beyond the files it writes, in words.

configure's summary counts the files it writes; the manifest (.clustergen/manifest.json,
committed) can change without any of them: a new digest of a built-in template an
override shadows, the clustergen version, cluster.yaml's digest, base copies, seals.
Each such change is one note, so `git status` never shows a change the output hid.
"""

from __future__ import annotations

from generator import paths
from generator.write.manifest import Manifest


def manifest_notes(old: Manifest, new: Manifest, *, changed: bool) -> list[str]:
    """One line (`manifest updated: …`) per kind of change from `old` to `new` that the
    written files do not explain. `changed`: whether files are written too (their
    digests, bases and seals then change with them, and cluster.yaml's digest usually
    does). [] when `new` is `old`."""
    if new == old:
        return []
    notes = [_override_note(path, old, new) for path in sorted(old.overrides | new.overrides)]
    notes = [n for n in notes if n]
    if new.generator != old.generator:
        notes.append(f"recorded clustergen {new.generator} (was {old.generator or 'none'})")
    if not changed:
        if new.config_digest != old.config_digest:
            notes.append("recorded the digest of cluster.yaml (no file renders differently)")
        adopted = [p for p in new.files if p not in old.files]
        forgotten = [p for p in old.files if p not in new.files]
        if adopted:
            notes.append(f"recorded {len(adopted)} file(s) that already hold their render")
        if forgotten:
            notes.append(f"dropped the entries of {len(forgotten)} file(s) no longer rendered")
        if new.bases != old.bases:
            notes.append("recorded the base copies of what it wrote")
        if (new.seals, new.seal_key, new.fingerprints) != (
            old.seals,
            old.seal_key,
            old.fingerprints,
        ):
            notes.append("resealed the secrets' entries")
    if not notes and not changed:
        notes.append(f"rewrote {paths.MANIFEST_PATH}")
    return [f"manifest updated: {note}" for note in notes]


def _override_note(path: str, old: Manifest, new: Manifest) -> str:
    before, after = old.overrides.get(path), new.overrides.get(path)
    if after is None:
        return f"forgot {path} (no longer in overrides/)"
    if before is None:
        return f"recorded the hash of {after.template}, which {path} shadows"
    if before != after:
        return f"recorded the new hash of {after.template}, which {path} shadows"
    return ""
