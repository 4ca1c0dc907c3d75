"""Key and credential files next to cluster.yaml, read once before rendering.

Only the files the configuration needs are read, and every problem is reported
at once so the user fixes them in one pass.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.errors import SideFileError
from generator.paths import (
    AGE_KEY_NAME,
    DEPLOY_KEY_NAME,
    TUNNEL_CREDENTIALS_NAME,
    WEBHOOK_TOKEN_NAME,
)
from generator.repository import is_ssh
from generator.secrets.continuity import missing_file_hint
from generator.secrets.keys import (
    HeldKey,
    derive_secret,
    held_age_key,
    load_deploy_key,
    parse_age_key,
    public_openssh,
)
from generator.secrets.tracked import refuse_tracked_keys

INIT_CMD = "`uv run task init`"
INIT = f"create it with {INIT_CMD}"
TUNNEL_CREATE = (
    "`cloudflared tunnel login && cloudflared tunnel create "
    f"--credentials-file {TUNNEL_CREDENTIALS_NAME} kubernetes`"
)
_MIN_TOKEN_LENGTH = 16
# The credentials file `cloudflared tunnel create` writes: the 32-hex account ID, the
# tunnel's UUID and a base64 secret of at least 32 bytes (Cloudflare API, "Create a
# Cloudflare Tunnel": https://developers.cloudflare.com/api/resources/zero_trust/subresources/tunnels/subresources/cloudflared/methods/create/).
_ACCOUNT_TAG = re.compile(r"^[0-9a-f]{32}$")
_MIN_TUNNEL_SECRET_BYTES = 32


@dataclass(frozen=True)
class SideFiles:
    age_public_key: str
    age_private_key: str
    webhook_token: str
    deploy_key: str | None
    deploy_key_pub: str | None
    tunnel_id: str | None
    tunnel_account: str | None
    tunnel_secret: str | None
    tunnel_token: str | None
    # Derived from the age key (keys.derive_secret), never from a token shared with GitHub.
    grafana_admin_password: str = field(init=False)

    def __post_init__(self) -> None:
        password = derive_secret(self.age_private_key, "grafana-admin-password")
        object.__setattr__(self, "grafana_admin_password", password)


class _Reader:
    """Reads files and collects problems instead of stopping at the first."""

    def __init__(self, workdir: Path, *, missing_ok: bool = False) -> None:
        self.workdir = workdir
        self.missing_ok = missing_ok
        self.problems: list[str] = []
        self.missing: list[str] = []

    def text(self, name: str, create_hint: str) -> str | None:
        path = self.workdir / name
        if not path.is_file():
            if self.missing_ok:
                self.missing.append(name)
            elif (recovery := missing_file_hint(self.workdir, name)) is not None:
                self.problems.append(recovery)  # the message init and configure give
            else:
                self.problems.append(f"{name}: missing; {create_hint}")
            return None
        try:
            # utf-8-sig: a byte-order mark from a Windows editor is not part of the content.
            return path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as err:
            self.problems.append(f"{name}: cannot be read ({err})")
            return None

    def check(self, error: SideFileError) -> None:
        self.problems.append(str(error))


def read_side_files(
    cluster_values: Mapping[str, Any], workdir: Path, held: HeldKey | None = None
) -> SideFiles:
    """Read age.key and whichever of the other side files cluster_values calls for.
    `held`: age.key as the caller read it (keys.discover_age_key), not read again.

    Raises SideFileError listing every missing or malformed file at once.
    """
    side, _ = _read_all(cluster_values, _Reader(workdir), held)
    assert side is not None  # _read_all raises instead when a file is missing
    return side


def check_side_files(cluster_values: Mapping[str, Any], workdir: Path) -> list[str]:
    """The checks `configure` runs on the side files, for `clustergen check`.

    With age.key present every needed file must be there and well-formed, as for
    configure. Without it (a checkout without keys: CI, a review) the files that exist are
    still checked and the names of the missing ones are returned for a note.
    Raises SideFileError for files that exist but are malformed (or missing, with a key).
    """
    keyless = held_age_key(workdir) is None
    _, missing = _read_all(cluster_values, _Reader(workdir, missing_ok=keyless))
    return missing


def _read_all(
    cluster_values: Mapping[str, Any], reader: _Reader, held: HeldKey | None = None
) -> tuple[SideFiles | None, list[str]]:
    workdir = reader.workdir
    repository = cluster_values.get("repository") or {}
    ingress = cluster_values.get("ingress") or {}
    needs_deploy_key = is_ssh(repository.get("url"))
    needs_token = repository.get("webhook_provider", "github") != "none"
    needs_tunnel = ingress.get("mode") == "cloudflare-tunnel"

    refuse_tracked_keys(workdir)
    age_private = age_public = ""
    if held is not None and held.key is not None:
        age_private, age_public = held.key.identity, held.key.public
    elif (text := reader.text(AGE_KEY_NAME, INIT)) is not None:
        try:
            key = parse_age_key(text, AGE_KEY_NAME)
            age_private, age_public = key.identity, key.public
        except SideFileError as err:
            reader.check(err)

    token = _read_token(reader) if needs_token else ""
    deploy_key, deploy_pub = _read_deploy_key(reader) if needs_deploy_key else (None, None)
    tunnel = _read_tunnel(reader) if needs_tunnel else None

    if reader.problems:
        raise SideFileError(
            f"{len(reader.problems)} side file(s) next to cluster.yaml need attention:\n"
            + "\n".join(f"  {p}" for p in reader.problems)
        )
    if reader.missing:
        return None, reader.missing
    side = SideFiles(
        age_public_key=age_public,
        age_private_key=age_private,
        webhook_token=token,
        deploy_key=deploy_key,
        deploy_key_pub=deploy_pub,
        tunnel_id=tunnel["TunnelID"] if tunnel else None,
        tunnel_account=tunnel["AccountTag"] if tunnel else None,
        tunnel_secret=tunnel["TunnelSecret"] if tunnel else None,
        tunnel_token=tunnel_token(tunnel) if tunnel else None,
    )
    return side, []


def _read_token(reader: _Reader) -> str:
    text = reader.text(WEBHOOK_TOKEN_NAME, INIT)
    if text is None:
        return ""
    token = text.strip()
    if len(token) < _MIN_TOKEN_LENGTH or any(c.isspace() for c in token):
        reader.problems.append(
            f"{WEBHOOK_TOKEN_NAME}: must hold one token of at least {_MIN_TOKEN_LENGTH} "
            f"characters without spaces; delete it and run {INIT_CMD} to make a new one"
        )
        return ""
    return token


def _read_deploy_key(reader: _Reader) -> tuple[str | None, str | None]:
    hint = f"{INIT} (repository.url is ssh://, so Flux needs a deploy key)"
    text = reader.text(DEPLOY_KEY_NAME, hint)
    if text is None:
        return None, None
    try:
        key = load_deploy_key(text, DEPLOY_KEY_NAME)
    except SideFileError as err:
        reader.check(err)
        return None, None
    # The public half is derived, so a lost deploy.key.pub costs nothing.
    return text, public_openssh(key)


def _read_tunnel(reader: _Reader) -> dict[str, str] | None:
    hint = f"ingress.mode is cloudflare-tunnel; create it with {TUNNEL_CREATE}"
    text = reader.text(TUNNEL_CREDENTIALS_NAME, hint)
    if text is None:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        reader.problems.append(
            f"{TUNNEL_CREDENTIALS_NAME}:{err.lineno}: not valid JSON ({err.msg}); "
            f"re-create it with {TUNNEL_CREATE}"
        )
        return None
    except RecursionError:
        reader.problems.append(
            f"{TUNNEL_CREDENTIALS_NAME}: nested too deeply to be the file `cloudflared tunnel "
            f"create` writes; re-create it with {TUNNEL_CREATE}"
        )
        return None
    wanted = ("AccountTag", "TunnelSecret", "TunnelID")
    missing = [k for k in wanted if not isinstance(data, dict) or not _nonempty(data.get(k))]
    if missing:
        reader.problems.append(
            f"{TUNNEL_CREDENTIALS_NAME}: missing {', '.join(missing)} (expected the file "
            f"`cloudflared tunnel create` writes); re-create it with {TUNNEL_CREATE}"
        )
        return None
    credentials = {k: str(data[k]).strip() for k in wanted}
    malformed = _malformed_tunnel_fields(credentials)
    if malformed:
        reader.problems.append(
            f"{TUNNEL_CREDENTIALS_NAME}: {'; '.join(malformed)} (not the file "
            f"`cloudflared tunnel create` writes); re-create it with {TUNNEL_CREATE}"
        )
        return None
    return credentials


def _malformed_tunnel_fields(credentials: Mapping[str, str]) -> list[str]:
    """What is wrong with each field; the tunnel ID also names the DNS target
    <TunnelID>.cfargotunnel.com, which cannot exist unless it is the tunnel's UUID."""
    problems: list[str] = []
    if not _ACCOUNT_TAG.match(credentials["AccountTag"]):
        problems.append("AccountTag must be 32 lowercase hex characters")
    try:
        uuid.UUID(credentials["TunnelID"])
        is_uuid = len(credentials["TunnelID"]) == 36
    except ValueError:
        is_uuid = False
    if not is_uuid:
        problems.append(
            "TunnelID must be the tunnel's UUID like 6f2a1c3e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"
        )
    try:
        secret = base64.b64decode(credentials["TunnelSecret"], validate=True)
    except (binascii.Error, ValueError):
        secret = b""
    if len(secret) < _MIN_TUNNEL_SECRET_BYTES:
        problems.append(f"TunnelSecret must be base64 of at least {_MIN_TUNNEL_SECRET_BYTES} bytes")
    return problems


def _nonempty(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def tunnel_token(credentials: Mapping[str, str]) -> str:
    """The token `cloudflared tunnel run --token` takes: base64 of compact JSON a/t/s."""
    payload = {
        "a": credentials["AccountTag"],
        "t": credentials["TunnelID"],
        "s": credentials["TunnelSecret"],
    }
    return base64.b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def placeholder_side_files(workdir: Path, placeholder: str | None = None) -> SideFiles:
    """Stand-ins for a render without keys (CI drift checks): every secret value is
    `placeholder` (default `config.NOT_DECRYPTED`).

    The age public key is taken from the committed `.sops.yaml`, so the
    creation rules render exactly as they were written.
    """
    from generator.config import NOT_DECRYPTED
    from generator.secrets.metadata import parse_rules

    public = "age1-no-key"
    rules_file = workdir / ".sops.yaml"
    if rules_file.is_file():
        rules = parse_rules(rules_file.read_bytes())
        age = sorted({r for rule in rules for r in rule.recipients if r.startswith("age1")})
        public = ",".join(age) or public
    fake = placeholder or NOT_DECRYPTED
    return SideFiles(
        age_public_key=public,
        age_private_key=fake,
        webhook_token=fake,
        deploy_key=fake,
        deploy_key_pub=fake,
        tunnel_id=fake,
        tunnel_account=fake,
        tunnel_secret=fake,
        tunnel_token=fake,
    )
