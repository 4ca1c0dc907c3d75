"""Whether every committed secret decrypts with the age key this checkout holds.

A check that could not look must not report ok: with a key at hand, a secret it cannot
decrypt (a corrupted value, a MAC that fails, another key's file) is a problem; without
any key (a keyless CI checkout) nothing can be said, and the caller says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from generator.errors import SecretsError
from generator.secrets.audit import SecretFile
from generator.secrets.files import SOPS_CONFIG
from generator.secrets.keys import held_age_key, key_in_env
from generator.secrets.sops import Sops, decrypt_in_rotation

WORKERS = 4
NO_KEY_NOTE = "not decrypted (no age key here): values went unchecked"


def decryptor(workdir: Path) -> Sops | None:
    """sops with the age key next to cluster.yaml (or from $SOPS_AGE_KEY/_FILE); None
    when this checkout holds no key."""
    key = held_age_key(workdir)
    if key is None and not key_in_env():
        return None
    config = workdir / SOPS_CONFIG
    return Sops(age_key_file=key, config=config if config.is_file() else None)


def undecryptable(workdir: Path, files: Sequence[SecretFile], sops: Sops) -> list[tuple[str, str]]:
    """(path, why) of each encrypted file that neither the key nor, mid-rotation,
    age.key.old decrypts. The why is sops' message (never a value)."""

    def why(item: SecretFile) -> str | None:
        try:
            decrypt_in_rotation(sops, item.content, item.path, workdir)
        except SecretsError as err:
            return str(err)
        return None

    encrypted = [item for item in files if item.encrypted]
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        reasons = list(pool.map(why, encrypted))
    return [
        (item.path, reason)
        for item, reason in zip(encrypted, reasons, strict=True)
        if reason is not None
    ]


def undecryptable_message(path: str, why: str) -> str:
    return (
        f"{path}: cannot be decrypted with the age key held ({why}); it is corrupt or "
        "encrypted for another key: restore it from git (`git checkout -- <file>`), or "
        "re-create it (`uv run clustergen configure` re-renders generated secrets)"
    )
