"""Fingerprints of secret plaintext, so an unchanged secret needs no sops call to prove it.

The ownership manifest is committed next to the ciphertext, and many secrets
are short or guessable (a token, a password): a plain hash of one would be
brute-forced from the public repository. A fingerprint is therefore an
HMAC-SHA256 keyed with a key derived from the age identity, over the file's
path and plaintext: only someone who can decrypt the secrets anyway can compute
or check it, and equal secrets in different files do not look alike.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from generator.errors import SideFileError
from generator.secrets.files import is_secret_path
from generator.secrets.keys import read_age_key

_KEY_LABEL = b"clustergen-secret-fingerprint"


def fingerprint_key(identity: str) -> bytes:
    """The HMAC key for one age identity (`AGE-SECRET-KEY-1…`)."""
    return hashlib.sha256(_KEY_LABEL + identity.strip().encode()).digest()


def key_from_file(age_key_file: Path | None) -> bytes | None:
    """The HMAC key of the one identity in an age key file; None when there is no such file.

    An unreadable or ambiguous key file yields None: fingerprints are an
    optimisation, and the sops calls that follow report the real problem.
    """
    if age_key_file is None:
        return None
    try:
        return fingerprint_key(read_age_key(age_key_file).identity)
    except SideFileError:
        return None


def fingerprint(key: bytes, path: str, plaintext: bytes) -> str:
    message = path.encode() + b"\0" + plaintext
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def matches(key: bytes, path: str, plaintext: bytes, recorded: str | None) -> bool:
    return recorded is not None and hmac.compare_digest(fingerprint(key, path, plaintext), recorded)


def secret_fingerprints(files: Mapping[str, bytes], key: bytes | None) -> dict[str, str]:
    """Fingerprints of every `*.sops.*` plaintext in a rendered tree ({} without a key)."""
    if key is None:
        return {}
    return {
        path: fingerprint(key, path, data) for path, data in files.items() if is_secret_path(path)
    }


def keyed_config_digest(digest: str, key: bytes | None) -> str:
    """The config digest as the committed manifest may show it: keyed, like fingerprints.

    A plain sha256 of the values would let anyone who knows the rest of the
    config (most of it is visible in the rendered repository) test guesses of
    its secret values. "" without a key.
    """
    if key is None:
        return ""
    return hmac.new(key, b"config\0" + digest.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Written:
    """What the last run wrote, from the ownership manifest once trusted (its seals checked
    with the key: write/ownership.py `trusted`)."""

    digests: Mapping[str, str] = field(default_factory=dict)  # path → sha256 of the bytes
    fingerprints: Mapping[str, str] = field(default_factory=dict)  # path → plaintext fingerprint


@dataclass(frozen=True)
class Vouched:
    """What `written` proves without sops: a secret file whose bytes are the ones configure
    wrote holds the plaintext it then fingerprinted with `key`."""

    key: bytes
    written: Written

    def unchanged(self, path: str, existing: bytes, plaintext: bytes) -> bool:
        """`existing` (a file's bytes) is what we wrote at `path`, from this `plaintext`."""
        return self._ours(path, existing) and matches(
            self.key, path, plaintext, self.written.fingerprints.get(path)
        )

    def plaintext_changed(self, path: str, existing: bytes, plaintext: bytes) -> bool:
        """The file is what we wrote, and its plaintext then had other bytes than now."""
        return (
            self._ours(path, existing)
            and path in self.written.fingerprints
            and not matches(self.key, path, plaintext, self.written.fingerprints[path])
        )

    def sealed(self, path: str, existing: bytes) -> bool:
        """`existing` is what we wrote at `path`, and its entry is sealed with the key (only
        a sealed entry keeps its fingerprint)."""
        return path in self.written.fingerprints and self._ours(path, existing)

    def _ours(self, path: str, existing: bytes) -> bool:
        digest = self.written.digests.get(path)
        return digest is not None and hashlib.sha256(existing).hexdigest() == digest
