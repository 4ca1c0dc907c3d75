"""What validation decrypts with during configure: the plaintext just rendered.

A secret about to be written (new ciphertext, or the kept one) holds exactly what the
render made, which needs no sops run; anything else (a user's own secret that a Flux
Kustomization substitutes from) goes to sops with the configure's key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from generator.secrets.sops import Sops, decrypt_in_rotation


@dataclass(frozen=True)
class KnownPlaintext:
    """A `Decrypt` (generator/validate/substitute.py) as plain data, so that it travels to
    the validation worker with the tree (generator/validation_worker.py)."""

    planned: Mapping[str, bytes]  # path → the bytes about to be written
    rendered: Mapping[str, bytes]  # path → what the render made of it (secrets: plaintext)
    sops: Sops | None  # None without an age key: nothing else can be decrypted
    workdir: Path  # where age.key.old lies during a key rotation

    def __call__(self, path: str, ciphertext: bytes) -> bytes | None:
        """The plaintext of `ciphertext` at `path`, or None when no key is held. Raises
        SecretsError when sops cannot decrypt it."""
        if self.planned.get(path) == ciphertext and path in self.rendered:
            return self.rendered[path]
        if self.sops is None:
            return None
        return decrypt_in_rotation(self.sops, ciphertext, path, self.workdir)
