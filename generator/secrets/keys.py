"""Key material: age identities, SSH deploy keys and webhook tokens.

Private key text never appears in an error message.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import pyrage

from generator.errors import SideFileError
from generator.paths import AGE_KEY_NAME

if TYPE_CHECKING:
    # cryptography costs ~40 ms to import; only deploy keys (ssh:// repositories) need it.
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# The previous key while a rotation is under way: still decrypts.
OLD_AGE_KEY_NAME = "age.key.old"
# Where the rotation steps are written down (`secrets inventory` writes docs/SECRETS.md).
ROTATION_HINT = "see 'Rotating the age key' in README.md or docs/SECRETS.md"
BOM = "\ufeff"
DEPLOY_KEY_COMMENT = "clustergen-deploy-key"
INIT_HINT = "run `uv run task init`"

# Key types Flux's git client accepts for a deploy key.
SSHKey: TypeAlias = "Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey"


@dataclass(frozen=True)
class AgeKey:
    identity: str
    public: str


def generate_age_key() -> str:
    """A new identity in age-keygen's file format (comments, then the secret key)."""
    identity = pyrage.x25519.Identity.generate()
    created = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return f"# created: {created}\n# public key: {identity.to_public()}\n{identity}\n"


def parse_age_key(text: str, name: str = "age.key") -> AgeKey:
    """The one identity in an age key file; SideFileError naming the file if unusable.
    A byte-order mark and CRLF line ends (Windows editors) are fine."""
    text = text.removeprefix(BOM)
    identities = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("AGE-SECRET-")]
    recreate = (
        f"move it away and {INIT_HINT} to create a new key; secrets encrypted for the "
        f"old key must then be re-encrypted ({ROTATION_HINT})"
    )
    if len(identities) != 1:
        found = "no age secret key" if not identities else f"{len(identities)} age secret keys"
        raise SideFileError(f"{name} holds {found}, expected exactly one; {recreate}")
    try:
        identity = pyrage.x25519.Identity.from_str(identities[0])
    except pyrage.IdentityError as err:
        raise SideFileError(f"{name} is not a valid age key ({err}); {recreate}") from None
    public = str(identity.to_public())
    for line in text.splitlines():
        if line.startswith("# public key:") and line.split(":", 1)[1].strip() != public:
            raise SideFileError(
                f"{name}: the '# public key' comment does not match its secret key; {recreate}"
            )
    return AgeKey(identity=identities[0], public=public)


def read_age_key(path: Path) -> AgeKey:
    if not path.is_file():
        raise SideFileError(f"{path.name} not found in {path.parent}; {INIT_HINT} to create it")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise SideFileError(f"cannot read {path}: {err}") from None
    return parse_age_key(text, path.name)


def held_age_key(workdir: Path) -> Path | None:
    """The one rule for "which age key do we hold": the `age.key` next to cluster.yaml,
    when it is a file. sops may find another in the environment (`key_in_env`)."""
    key = workdir / AGE_KEY_NAME
    return key if key.is_file() else None


@dataclass(frozen=True)
class HeldKey:
    """The age key file this run holds, read once (`discover_age_key`); `key` is None when
    the file does not parse (the side-file check says why)."""

    path: Path
    key: AgeKey | None


def discover_age_key(workdir: Path) -> HeldKey | None:
    """`held_age_key`, read and parsed once, to pass down; None when there is none."""
    path = held_age_key(workdir)
    if path is None:
        return None
    try:
        return HeldKey(path, read_age_key(path))
    except SideFileError:
        return HeldKey(path, None)


def key_in_env() -> bool:
    """Whether sops gets an age key from $SOPS_AGE_KEY or from the file $SOPS_AGE_KEY_FILE
    names. A name with no file there is no key: the Taskfile's env: block names the
    repository's age.key whether or not this clone holds it."""
    if os.environ.get("SOPS_AGE_KEY"):
        return True
    named = os.environ.get("SOPS_AGE_KEY_FILE")
    return named is not None and named != "" and Path(named).is_file()


def has_bom(path: Path) -> bool:
    """Whether the file starts with a UTF-8 byte-order mark, which age (and so sops)
    reads as part of the first line."""
    try:
        with path.open("rb") as file:
            return file.read(3) == BOM.encode()
    except OSError:
        return False


def generate_deploy_key() -> tuple[str, str]:
    """(private, public) ed25519 key pair in OpenSSH format, for a read-only deploy key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    return private, public_openssh(key)


def public_openssh(key: SSHKey) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return f"{raw.decode()} {DEPLOY_KEY_COMMENT}\n"


def load_deploy_key(text: str, name: str = "deploy.key") -> SSHKey:
    """Parse an unencrypted OpenSSH private key (ed25519, ecdsa or rsa), or SideFileError."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_ssh_private_key(text.encode(), password=None)
    except (ValueError, TypeError) as err:
        reason = str(err).split("\n")[0] or type(err).__name__
        raise SideFileError(
            f"{name} is not an unencrypted OpenSSH private key ({reason}); "
            f"move it and deploy.key.pub away and {INIT_HINT} to create a new pair"
        ) from None
    if not isinstance(key, Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise SideFileError(f"{name} must be an ed25519, ecdsa or rsa key; {INIT_HINT}")
    return key


def generate_webhook_token() -> str:
    return secrets.token_hex(32)


def derive_secret(identity: str, purpose: str) -> str:
    """A secret for one `purpose` (e.g. "grafana-admin-password"), 64 hex characters:
    HMAC-SHA256 keyed with the age identity (`AGE-SECRET-KEY-1…`), the repository's root
    secret that never leaves it, over a clustergen-specific label. Stable across renders
    (so its ciphertext is kept), independent of any value shared with a third party (the
    webhook token is pasted into GitHub), and new when the age key is rotated."""
    message = f"clustergen-derived-secret:{purpose}".encode()
    return hmac.new(identity.strip().encode(), message, hashlib.sha256).hexdigest()
