"""Stand-ins for the user's key files, shared by every test that renders or encrypts.

`side_files` is what `read_side_files` would return for a config: a real age key from
pyrage (fresh unless one is given) and obviously fake deploy key, webhook token and tunnel
values, the deploy key and tunnel ones only when the config asks for them.
`golden_side` is byte-stable, for snapshots: fixed fakes throughout.
`sops_with_new_key` is the real sops with a fresh age key and the given creation rules.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyrage

from generator.secrets.sops import Sops
from generator.sidefiles import SideFiles

WEBHOOK_TOKEN = "0123456789abcdef0123456789abcdef"
FAKE_DEPLOY_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
FAKE_DEPLOY_KEY_PUB = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeFakeFakeFakeFakeFakeFakeFakeFakeFake flux"
)
TUNNEL_ID = "6f2a1c3e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"
TUNNEL_ACCOUNT = "0123456789abcdef0123456789abcdef"
# TUNNEL_SECRET: 36 bytes; cloudflared writes at least 32.
TUNNEL_SECRET = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"
TUNNEL_TOKEN = "eyJhIjoiYWNjb3VudCIsInQiOiJ0dW5uZWwiLCJzIjoic2VjcmV0In0="

# Golden snapshots hold these bytes: changing any of them rewrites the snapshots.
GOLDEN_FAKE = "golden-fake-not-a-secret"
GOLDEN_SIDE = SideFiles(
    age_public_key="age1goldengoldengoldengoldengoldengoldengoldengoldengoldenqqqqqq",
    age_private_key="AGE-SECRET-KEY-1GOLDEN-FAKE-NOT-A-KEY",
    webhook_token=WEBHOOK_TOKEN,
    deploy_key="-----BEGIN OPENSSH PRIVATE KEY-----\ngolden\n-----END OPENSSH PRIVATE KEY-----\n",
    deploy_key_pub="ssh-ed25519 AAAAgoldenfake flux",
    tunnel_id=TUNNEL_ID,
    tunnel_account=GOLDEN_FAKE,
    tunnel_secret=GOLDEN_FAKE,
    tunnel_token=GOLDEN_FAKE,
)


# One age key per test process: secrets derived from it are the same in every render.
_SESSION_IDENTITY = pyrage.x25519.Identity.generate()


def side_files(
    context: Mapping[str, Any], identity: pyrage.x25519.Identity | None = None
) -> SideFiles:
    """Side files for a cluster's template context (`Cluster.context()`)."""
    identity = identity or _SESSION_IDENTITY
    ssh = bool(context["derived"]["repo_is_ssh"])
    tunnel = context["ingress"]["mode"] == "cloudflare-tunnel"
    return SideFiles(
        age_public_key=str(identity.to_public()),
        age_private_key=str(identity),
        webhook_token=WEBHOOK_TOKEN,
        deploy_key=FAKE_DEPLOY_KEY if ssh else None,
        deploy_key_pub=FAKE_DEPLOY_KEY_PUB if ssh else None,
        tunnel_id=TUNNEL_ID if tunnel else None,
        tunnel_account=TUNNEL_ACCOUNT if tunnel else None,
        tunnel_secret=TUNNEL_SECRET if tunnel else None,
        tunnel_token=TUNNEL_TOKEN if tunnel else None,
    )


def golden_side(age_key: str | None = None) -> SideFiles:
    """GOLDEN_SIDE, or with a real (fixed, throwaway) age key where a snapshot needs one."""
    if age_key is None:
        return GOLDEN_SIDE
    public = str(pyrage.x25519.Identity.from_str(age_key).to_public())
    return dataclasses.replace(GOLDEN_SIDE, age_public_key=public, age_private_key=age_key)


def sops_with_new_key(workdir: Path, rules: str) -> Sops:
    """sops with a fresh age key in `workdir`; AGE_PUBLIC_KEY in `rules` names its recipient."""
    identity = pyrage.x25519.Identity.generate()
    key = workdir / "age.key"
    key.write_text(f"{identity}\n")
    config = workdir / ".sops.yaml"
    config.write_text(rules.replace("AGE_PUBLIC_KEY", str(identity.to_public())))
    return Sops(age_key_file=key, config=config)
