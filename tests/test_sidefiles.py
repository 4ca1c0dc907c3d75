from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pyrage
import pytest

from generator.errors import SideFileError
from generator.secrets.keys import (
    discover_age_key,
    generate_age_key,
    generate_deploy_key,
    read_age_key,
)
from generator.sidefiles import SideFiles, read_side_files

SSH_TUNNEL = {
    "repository": {"url": "ssh://git@github.com/me/cluster", "webhook_provider": "github"},
    "ingress": {"mode": "cloudflare-tunnel"},
}
HTTPS_QUIET = {
    "repository": {"url": "https://github.com/me/cluster", "webhook_provider": "none"},
    "ingress": {"mode": "direct"},
}
ACCOUNT, TUNNEL_ID = "0123456789abcdef0123456789abcdef", "6f2a1c3e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"
SECRET = base64.b64encode(bytes(range(32))).decode()
TUNNEL = {"AccountTag": ACCOUNT, "TunnelSecret": SECRET, "TunnelID": TUNNEL_ID}


def write_all(workdir: Path) -> str:
    (workdir / "age.key").write_text(generate_age_key())
    (workdir / "webhook.token").write_text("a" * 64 + "\n")
    private, public = generate_deploy_key()
    (workdir / "deploy.key").write_text(private)
    (workdir / "cloudflare-tunnel.json").write_text(json.dumps(TUNNEL))
    return public


def test_reads_everything_the_config_needs(tmp_path: Path) -> None:
    public = write_all(tmp_path)  # deploy.key.pub is absent: derived from deploy.key
    side = read_side_files(SSH_TUNNEL, tmp_path)
    key = read_age_key(tmp_path / "age.key")
    assert (side.age_private_key, side.age_public_key) == (key.identity, key.public)
    assert side.webhook_token == "a" * 64
    assert side.deploy_key == (tmp_path / "deploy.key").read_text()
    assert side.deploy_key_pub == public
    assert (side.tunnel_id, side.tunnel_account, side.tunnel_secret) == (TUNNEL_ID, ACCOUNT, SECRET)
    assert side.tunnel_token is not None
    assert json.loads(base64.b64decode(side.tunnel_token)) == {
        "a": ACCOUNT,
        "t": TUNNEL_ID,
        "s": SECRET,
    }


def test_the_age_key_the_caller_holds_is_not_read_again(tmp_path: Path) -> None:
    (tmp_path / "age.key").write_text(generate_age_key())
    held = discover_age_key(tmp_path)
    assert held is not None and held.key is not None
    (tmp_path / "age.key").write_text(generate_age_key())  # a second read would see this one
    side = read_side_files(HTTPS_QUIET, tmp_path, held)
    assert (side.age_private_key, side.age_public_key) == (held.key.identity, held.key.public)


def test_reads_only_what_is_needed(tmp_path: Path) -> None:
    (tmp_path / "age.key").write_text(generate_age_key())
    (tmp_path / "deploy.key").write_text("not a key")  # not needed for https: never read
    side = read_side_files(HTTPS_QUIET, tmp_path)
    assert side.webhook_token == ""
    assert side.deploy_key is None and side.deploy_key_pub is None
    assert side.tunnel_id is None and side.tunnel_token is None


def test_all_missing_files_are_listed_at_once(tmp_path: Path) -> None:
    with pytest.raises(SideFileError) as err:
        read_side_files(SSH_TUNNEL, tmp_path)
    lines = str(err.value).splitlines()
    assert lines[0] == "4 side file(s) next to cluster.yaml need attention:"
    assert lines[1].strip().startswith("age.key: missing; create it with `uv run task init`")
    assert lines[2].strip().startswith("webhook.token: missing; create it with `uv run task init`")
    assert "deploy.key: missing" in lines[3] and "`uv run task init`" in lines[3]
    assert "cloudflare-tunnel.json: missing" in lines[4]
    assert (
        "cloudflared tunnel login && cloudflared tunnel create "
        "--credentials-file cloudflare-tunnel.json kubernetes" in lines[4]
    )


def test_invalid_files_are_listed_without_their_content(tmp_path: Path) -> None:
    (tmp_path / "age.key").write_text("AGE-SECRET-KEY-1BROKENSECRET\n")
    (tmp_path / "webhook.token").write_text("short\n")
    (tmp_path / "deploy.key").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nBROKEN\n")
    (tmp_path / "cloudflare-tunnel.json").write_text('{"AccountTag": "x", "TunnelID": ""}')
    with pytest.raises(SideFileError) as err:
        read_side_files(SSH_TUNNEL, tmp_path)
    message = str(err.value)
    assert message.startswith("4 side file(s)")
    assert "age.key is not a valid age key" in message
    assert "webhook.token: must hold one token of at least 16 characters" in message
    assert "deploy.key is not an unencrypted OpenSSH private key" in message
    assert "cloudflare-tunnel.json: missing TunnelSecret, TunnelID" in message
    assert "BROKENSECRET" not in message and "BROKEN\n" not in message


def test_tunnel_json_syntax_error_has_a_line(tmp_path: Path) -> None:
    write_all(tmp_path)
    (tmp_path / "cloudflare-tunnel.json").write_text('{\n"AccountTag": "x",\n}')
    with pytest.raises(SideFileError, match=r"cloudflare-tunnel\.json:3: not valid JSON"):
        read_side_files(SSH_TUNNEL, tmp_path)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_tracked_key_file_is_refused(tmp_path: Path) -> None:
    write_all(tmp_path)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "webhook.token"], cwd=tmp_path, check=True)
    with pytest.raises(SideFileError) as err:
        read_side_files(SSH_TUNNEL, tmp_path)
    assert "webhook.token is tracked by git" in str(err.value)
    assert "git rm --cached webhook.token" in str(err.value)


def test_tunnel_credentials_of_the_wrong_shape_are_named(tmp_path: Path) -> None:
    # A TunnelID that is not a UUID renders a DNS target <id>.cfargotunnel.com that cannot exist.
    write_all(tmp_path)
    bad = {"AccountTag": "acc0unt", "TunnelSecret": "c2VjcmV0", "TunnelID": "kubernetes"}
    (tmp_path / "cloudflare-tunnel.json").write_text(json.dumps(bad))
    with pytest.raises(SideFileError) as err:
        read_side_files(SSH_TUNNEL, tmp_path)
    assert str(err.value).splitlines()[1] == (
        "  cloudflare-tunnel.json: AccountTag must be 32 lowercase hex characters; "
        "TunnelID must be the tunnel's UUID like 6f2a1c3e-5b7d-4e8f-9a0b-1c2d3e4f5a6b; "
        "TunnelSecret must be base64 of at least 32 bytes (not the file `cloudflared tunnel "
        "create` writes); re-create it with `cloudflared tunnel login && "
        "cloudflared tunnel create --credentials-file cloudflare-tunnel.json kubernetes`"
    )
    assert "acc0unt" not in str(err.value)


def test_side_files_from_a_windows_editor_read_the_same(tmp_path: Path) -> None:
    """A UTF-8 byte-order mark and CRLF line ends are not part of any key or token."""
    write_all(tmp_path)
    plain = read_side_files(SSH_TUNNEL, tmp_path)
    for name in ("age.key", "webhook.token", "deploy.key", "cloudflare-tunnel.json"):
        path = tmp_path / name
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    side = read_side_files(SSH_TUNNEL, tmp_path)
    assert (side.age_private_key, side.age_public_key) == (
        plain.age_private_key,
        plain.age_public_key,
    )
    assert side.webhook_token == plain.webhook_token
    assert side.deploy_key_pub == plain.deploy_key_pub
    assert side.tunnel_token == plain.tunnel_token


def test_deeply_nested_tunnel_json_is_named_not_a_crash(tmp_path: Path) -> None:
    write_all(tmp_path)
    (tmp_path / "cloudflare-tunnel.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(SideFileError, match=r"cloudflare-tunnel\.json: nested too deeply"):
        read_side_files(SSH_TUNNEL, tmp_path)


def test_grafana_admin_password_derives_from_the_age_key_not_the_webhook_token() -> None:
    first, second = (pyrage.x25519.Identity.generate() for _ in range(2))
    base = dict(
        age_public_key="age1",
        deploy_key=None,
        deploy_key_pub=None,
        tunnel_id=None,
        tunnel_account=None,
        tunnel_secret=None,
        tunnel_token=None,
    )
    one = SideFiles(**base, age_private_key=str(first), webhook_token="a" * 64)
    other_token = SideFiles(**base, age_private_key=str(first), webhook_token="b" * 64)
    other_key = SideFiles(**base, age_private_key=str(second), webhook_token="a" * 64)
    assert one.grafana_admin_password == other_token.grafana_admin_password
    assert one.grafana_admin_password != other_key.grafana_admin_password
    assert len(one.grafana_admin_password) == 64
    assert str(first) not in one.grafana_admin_password
