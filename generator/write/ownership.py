"""What the committed manifest may claim: only what clustergen can render, sealed secrets.

The manifest is committed, so a pull request can edit it. Two checks keep an
edited manifest from turning into deletions or accepted ciphertext:

- Scope. A path is clustergen's only when some template could render it: it
  lies under an output root of `templates/config` (the narrowest directory
  holding all of a top-level template directory, e.g. `kubernetes/`,
  `.github/workflows/`) or is one of its root files (`.sops.yaml`, …), and
  is none of the user's own files (cluster.yaml, the key files). Anything
  else is never removed or overwritten as ours, whatever the manifest says.
- Seal. Each secret's entry binds the file's sha256 to its plaintext
  fingerprint with an HMAC keyed from the age identity (the fingerprint
  key, see secrets/fingerprint.py). A ciphertext that someone encrypted to the
  public recipient, with the manifest digest updated to match, fails the seal:
  without the age identity the seal cannot be recomputed.

An entry that fails either check is dropped from the trusted manifest and
reported in one line; the file itself is left alone.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path, PurePosixPath

from generator import paths
from generator.secrets.files import is_secret_path
from generator.secrets.fingerprint import Written
from generator.secrets.keys import OLD_AGE_KEY_NAME
from generator.write.manifest import Manifest, ManifestError, load_manifest

# The user's own files beside cluster.yaml: never clustergen's, even if a template
# of that name appeared at the root.
PROTECTED_NAMES = frozenset(
    {
        paths.CONFIG_NAME,
        paths.SECRETS_CONFIG_NAME,
        paths.AGE_KEY_NAME,
        OLD_AGE_KEY_NAME,
        paths.DEPLOY_KEY_NAME,
        f"{paths.DEPLOY_KEY_NAME}.pub",
        paths.WEBHOOK_TOKEN_NAME,
        paths.TUNNEL_CREDENTIALS_NAME,
    }
)
_SEAL_LABEL = b"clustergen-manifest-seal\0"
OUT_OF_SCOPE = "clustergen never renders that path"
BAD_SEAL = "its seal does not match the file's digest and fingerprint (changed outside clustergen)"


@dataclass(frozen=True)
class OutputScope:
    """Where rendered files can land: directory roots and root-level file names."""

    roots: tuple[str, ...]  # e.g. "kubernetes", ".github/workflows"
    root_files: frozenset[str]  # e.g. ".sops.yaml"

    def renders(self, rel: str) -> bool:
        path = PurePosixPath(rel)
        if rel.startswith("/") or ".." in path.parts:
            return False
        if len(path.parts) == 1:
            return rel in self.root_files and rel not in PROTECTED_NAMES
        return any(path.is_relative_to(root) for root in self.roots)


@cache
def output_scope(template_tree: Path = paths.TEMPLATE_TREE) -> OutputScope:
    """The scope of `templates/config` (read once per process)."""
    roots: list[str] = []
    root_files: set[str] = set()
    for entry in sorted(template_tree.iterdir()):
        if entry.is_dir():
            roots.append(_narrowest(entry).relative_to(template_tree).as_posix())
        elif entry.name != "_when.j2":
            root_files.add(entry.name.removesuffix(".j2"))
    return OutputScope(tuple(roots), frozenset(root_files))


def _narrowest(directory: Path) -> Path:
    """Descend while a directory holds nothing but one subdirectory."""
    entries = [e for e in directory.iterdir() if e.name != "_when.j2"]
    while len(entries) == 1 and entries[0].is_dir():
        directory = entries[0]
        entries = [e for e in directory.iterdir() if e.name != "_when.j2"]
    return directory


def seal(key: bytes, path: str, digest: str, fingerprint: str) -> str:
    """HMAC over (path, sha256 of the file, plaintext fingerprint)."""
    message = _SEAL_LABEL + "\0".join((path, digest, fingerprint)).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def seal_key_id(key: bytes) -> str:
    """A one-way id of the sealing key, to tell a rotated key from a forged seal."""
    return hmac.new(key, b"clustergen-seal-key-id", hashlib.sha256).hexdigest()[:16]


def seals_for(manifest: Manifest, key: bytes | None) -> dict[str, str]:
    """Seals of every secret entry of a manifest that has a fingerprint ({} without a key)."""
    if key is None:
        return {}
    return {
        path: seal(key, path, manifest.files[path], fp)
        for path, fp in manifest.fingerprints.items()
        if path in manifest.files
    }


def trusted(manifest: Manifest, key: bytes | None) -> tuple[Manifest, dict[str, str]]:
    """The entries of `manifest` that pass both checks, and why each other one was dropped.

    A secret entry without a seal it can check (a manifest from before seals,
    a seal that was deleted, seals made with a since-rotated key) keeps its
    ownership but loses its fingerprint, so its file is decrypted and compared
    instead of trusted on sight.
    """
    scope = output_scope()
    checkable = key is not None and manifest.seal_key == seal_key_id(key)
    files: dict[str, str] = {}
    fingerprints: dict[str, str] = {}
    dropped: dict[str, str] = {}
    for path, digest in sorted(manifest.files.items()):
        if not scope.renders(path):
            dropped[path] = OUT_OF_SCOPE
            continue
        fp = manifest.fingerprints.get(path)
        recorded = manifest.seals.get(path) if checkable else None
        if (
            is_secret_path(path)
            and recorded is not None
            and (
                key is None
                or fp is None
                or not hmac.compare_digest(seal(key, path, digest, fp), recorded)
            )
        ):
            dropped[path] = BAD_SEAL
            continue
        files[path] = digest
        if fp is not None and recorded is not None:
            fingerprints[path] = fp
    return replace(manifest, files=files, fingerprints=fingerprints), dropped


def vouched_by(workdir: Path, key: bytes | None) -> Written:
    """The digests and fingerprints of workdir's committed manifest that pass `trusted`
    with `key`: what secrets/fingerprint.py lets a command prove without sops. Empty
    without a key or a readable manifest."""
    if key is None:
        return Written()
    try:
        manifest, _ = trusted(load_manifest(workdir), key)
    except ManifestError:
        return Written()
    return Written(manifest.files, manifest.fingerprints)


def report_line(path: str, reason: str) -> str:
    """One line for a manifest entry that was not trusted."""
    return f"manifest: ignored the entry for {path}: {reason} (file left as it is)"
