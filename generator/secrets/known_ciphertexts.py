"""The ciphertexts clustergen made, by a keyed digest of what each encrypts.

A value switched back (a reverted cluster.yaml, a feature turned off and on again)
renders a secret's earlier plaintext once more. sops would encrypt it anew, with a new
data key, and the repository would get new ciphertext for content it held before. The
record gives back the ciphertext made before for exactly that path, creation rules and
plaintext, so the file comes back byte for byte, and no sops process runs for it.

It lives in the user cache (`user_cache_root()/secret-ciphertexts/`), one file per age
key: {HMAC of path, rules and plaintext: [ciphertext, HMAC of that entry's key and the
ciphertext]}. Both are keyed like the fingerprints (fingerprint.py): the names say
nothing of the plaintext to whoever lacks the age key, and a ciphertext put there by
anyone else (anyone may encrypt to the recipients) fails its HMAC and is never used. It
holds ciphertext only, as the repository does. Only what encrypt.py decided needs new
ciphertext comes here: a secret whose file holds the same documents keeps its bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import threading
from pathlib import Path

from generator.secrets.metadata import CreationRule, is_current, read_metadata
from generator.secrets.sops import Sops
from generator.usercache import JsonRecord

_LABEL = b"clustergen-secret-ciphertexts\0"
_SEAL = b"clustergen-secret-ciphertext-seal\0"
_MAX_ENTRIES = 256


def _decode(value: object) -> tuple[bytes, str] | None:
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        return None
    try:
        return base64.b64decode(value[0], validate=True), value[1]
    except (binascii.Error, ValueError):
        return None


class KnownCiphertexts:
    """The record for one age key: read on first use, written by `save` when added to.
    Safe to use from the encryption pool's threads."""

    def __init__(self, key: bytes, directory: Path | None = None) -> None:
        self._key = key
        self._lock = threading.Lock()
        self._record = JsonRecord(
            "secret-ciphertexts",
            f"{hashlib.sha256(_LABEL + key).hexdigest()[:32]}.json",
            _decode,
            directory=directory,
            keep=_MAX_ENTRIES,
        )

    def encrypt(
        self, sops: Sops, plaintext: bytes, path: str, *, rules: bytes, rule: CreationRule
    ) -> bytes:
        """`sops.encrypt(plaintext, path)`, or the ciphertext it made before for the same
        `path`, creation rules' bytes `rules` and `plaintext`, when the record holds it
        sealed and it is still current for `rule` (recipients, key selection); what sops
        makes is recorded. SecretsError as sops.encrypt."""
        name = self._name(path, rules, plaintext)
        with self._lock:
            kept = self._record.get(name)
        if kept is not None:
            ciphertext, seal = kept
            if hmac.compare_digest(seal, self._seal(name, ciphertext)) and is_current(
                read_metadata(ciphertext, path), rule
            ):
                return bytes(ciphertext)
        ciphertext = sops.encrypt(plaintext, path)
        with self._lock:
            self._record.set(name, (ciphertext, self._seal(name, ciphertext)))
        return ciphertext

    def save(self) -> None:
        """Write what `encrypt` added (best effort: without a cache, only time is lost)."""
        with self._lock:
            self._record.save(lambda kept: [base64.b64encode(kept[0]).decode("ascii"), kept[1]])

    def _name(self, path: str, rules: bytes, plaintext: bytes) -> str:
        message = b"\0".join((_LABEL, path.encode(), hashlib.sha256(rules).digest(), plaintext))
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def _seal(self, name: str, ciphertext: bytes) -> str:
        return hmac.new(self._key, _SEAL + name.encode() + b"\0" + ciphertext, "sha256").hexdigest()
