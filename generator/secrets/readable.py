"""Whether every committed secret decrypts with the age key this checkout holds.

A check that could not look must not report ok: with a key at hand, a secret it cannot
decrypt (a corrupted value, a MAC that fails, another key's file) is a problem; without
any key (a keyless CI checkout) nothing can be said, and the caller says so.

A file still byte for byte as configure wrote it with this key (`written`: its digest in
the manifest, sealed with the key: write/ownership.py `vouched_by`), whose sops metadata names
this key's recipient, decrypts: sops made it so, and any change to it (a corrupted value,
a re-encryption for other keys) changes its bytes. Only the others run sops.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from generator.errors import SecretsError, SideFileError
from generator.secrets.audit import SecretFile
from generator.secrets.files import SOPS_CONFIG
from generator.secrets.fingerprint import Vouched, Written
from generator.secrets.keys import held_age_key, key_in_env, read_age_key
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


def undecryptable(
    workdir: Path, files: Sequence[SecretFile], sops: Sops, written: Written | None = None
) -> list[tuple[str, str]]:
    """(path, why) of each encrypted file that neither the key nor, mid-rotation,
    age.key.old decrypts. The why is sops' message (never a value). What `written` vouches
    for (the module docstring) runs no sops."""
    vouched = _vouched_for(sops, written or Written())

    def why(item: SecretFile) -> str | None:
        if vouched(item):
            return None
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


def _vouched_for(sops: Sops, written: Written) -> Callable[[SecretFile], bool]:
    """Whether a file is proven to decrypt with `sops`' key file without running sops
    (the module docstring); never for a key from the environment."""
    key = sops.fingerprint_key
    if key is None or sops.age_key_file is None or not written.fingerprints:
        return lambda item: False
    try:
        public = (sops.identity or read_age_key(sops.age_key_file)).public
    except SideFileError:
        return lambda item: False
    vouched = Vouched(key, written)

    def readable(item: SecretFile) -> bool:
        recipients = item.meta.recipients if item.meta is not None else frozenset()
        return public in recipients and vouched.sealed(item.path, item.content)

    return readable


def undecryptable_message(path: str, why: str) -> str:
    return (
        f"{path}: cannot be decrypted with the age key held ({why}); it is corrupt or "
        "encrypted for another key: restore it from git (`git checkout -- <file>`), or "
        "re-create it (`uv run clustergen configure` re-renders generated secrets)"
    )
