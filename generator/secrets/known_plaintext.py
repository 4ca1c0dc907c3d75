"""Decrypting what the render already knows the plaintext of, without sops.

A secret about to be written (new ciphertext, or the kept one) holds exactly what the
render made (validation during configure), and so does a committed file the trusted
ownership manifest vouches for (`vouched`: its bytes are what configure wrote from that
very plaintext, fingerprint.py; diff and upgrade --check). Anything else (a user's own
secret that a Flux Kustomization substitutes from, a file edited since) goes to sops.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from generator.secrets.fingerprint import Vouched
from generator.secrets.sops import Sops, decrypt_in_rotation


@dataclass(frozen=True)
class KnownPlaintext:
    """A `Decrypt` (generator/validate/substitute.py) as plain data, so that it travels to
    the validation worker with the tree (generator/validation_worker.py)."""

    planned: Mapping[str, bytes]  # path → the bytes about to be written
    rendered: Mapping[str, bytes]  # path → what the render made of it (secrets: plaintext)
    sops: Sops | None  # None without an age key: nothing else can be decrypted
    workdir: Path  # where age.key.old lies during a key rotation
    vouched: Vouched | None = None  # what the committed manifest proves

    def __call__(self, path: str, ciphertext: bytes) -> bytes | None:
        """The plaintext of `ciphertext` at `path`, or None when no key is held. Raises
        SecretsError when sops cannot decrypt it."""
        plaintext = self.rendered.get(path)
        if plaintext is not None and (
            self.planned.get(path) == ciphertext
            or (self.vouched is not None and self.vouched.unchanged(path, ciphertext, plaintext))
        ):
            return plaintext
        if self.sops is None:
            return None
        return decrypt_in_rotation(self.sops, ciphertext, path, self.workdir)
