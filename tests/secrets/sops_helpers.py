"""Helpers shared by the secrets tests (imported by name; this directory is on sys.path)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from generator.secrets.keys import AgeKey, generate_age_key, read_age_key
from generator.secrets.sops import Sops


def rules_for(*publics: str) -> bytes:
    """Creation rules shaped like the rendered repository's `.sops.yaml`."""
    age = ",".join(publics)
    return (
        "creation_rules:\n"
        "  - path_regex: ^talos/.*\\.sops\\.ya?ml$\n"
        "    mac_only_encrypted: true\n"
        f'    age: "{age}"\n'
        "  - path_regex: ^(bootstrap|kubernetes)/.*\\.sops\\.ya?ml$\n"
        "    encrypted_regex: ^(data|stringData)$\n"
        "    mac_only_encrypted: true\n"
        f'    age: "{age}"\n'
        "  - path_regex: ^cluster\\.secrets\\.sops\\.yaml$\n"
        f'    age: "{age}"\n'
        "stores:\n"
        "  yaml:\n"
        "    indent: 2\n"
    ).encode()


@dataclass(frozen=True, kw_only=True)
class CountingSops(Sops):
    """The real Sops, remembering each call (copies made by with_config share the list)."""

    calls: list[tuple[str, str]] = field(default_factory=list)

    def encrypt(self, plaintext: bytes, filename: str) -> bytes:
        self.calls.append(("encrypt", filename))
        return super().encrypt(plaintext, filename)

    def decrypt(self, ciphertext: bytes, filename: str) -> bytes:
        self.calls.append(("decrypt", filename))
        return super().decrypt(ciphertext, filename)

    def count(self, action: str) -> int:
        return sum(1 for done, _ in self.calls if done == action)


def write_rules(directory: Path, *publics: str) -> Path:
    path = directory / ".sops.yaml"
    path.write_bytes(rules_for(*publics))
    return path


@dataclass(frozen=True)
class KeyPair:
    path: Path
    key: AgeKey


def make_key(directory: Path) -> KeyPair:
    path = directory / "age.key"
    path.write_text(generate_age_key())
    return KeyPair(path, read_age_key(path))


def encrypt_for(key: KeyPair, directory: Path, plaintext: bytes, filename: str) -> bytes:
    """`plaintext` encrypted by the real sops for `key`, under rules written to `directory`."""
    rules = write_rules(directory, key.key.public)
    return Sops(config=rules).encrypt(plaintext, filename)
