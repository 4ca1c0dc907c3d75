"""An ssh:// repository end to end: init writes the deploy key, configure encrypts it for Flux."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from generator.init_dir import init_workdir
from generator.paths import SAMPLE_CONFIG
from generator.pipeline import configure
from generator.secrets.sops import Sops

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
REPOSITORIES = {
    "bundled host": ("ssh://git@github.com/example/home-ops.git", None, "github.com ssh-ed25519 "),
    "self-hosted": (
        "ssh://git@git.example.com:2222/ops/home-ops.git",
        f"[git.example.com]:2222 {HOST_KEY}",
        f"[git.example.com]:2222 {HOST_KEY}",
    ),
}
DEPLOY_KEY_SECRETS = (
    "bootstrap/deploy-key.sops.yaml",
    "kubernetes/apps/flux-system/flux-instance/app/deploy-key.sops.yaml",
)


@pytest.mark.parametrize(("url", "known_hosts", "expected_host"), REPOSITORIES.values(),
                         ids=REPOSITORIES.keys())  # fmt: skip
def test_init_and_configure_with_an_ssh_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, known_hosts: str | None,
    expected_host: str,
) -> None:  # fmt: skip
    for name in ("SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "CLUSTERGEN_SOPS"):
        monkeypatch.delenv(name, raising=False)
    extra = f"\n  known_hosts: '{known_hosts}'" if known_hosts else ""
    text = SAMPLE_CONFIG.read_text()
    (tmp_path / "cluster.yaml").write_text(
        text.replace("url: https://github.com/example/home-ops", f"url: {url}{extra}", 1)
    )
    lines = init_workdir(tmp_path)
    assert "created deploy.key" in lines and "created deploy.key.pub" in lines
    assert (tmp_path / "deploy.key").stat().st_mode & 0o777 == 0o600

    configure(tmp_path / "cluster.yaml", validate=False)
    sops = Sops(age_key_file=tmp_path / "age.key")
    for path in DEPLOY_KEY_SECRETS:
        secret = yaml.safe_load(sops.decrypt((tmp_path / path).read_bytes(), path))
        data = secret["stringData"]
        assert data["identity"] == (tmp_path / "deploy.key").read_text(), path
        assert data["identity.pub"] == (tmp_path / "deploy.key.pub").read_text(), path
        assert expected_host in data["known_hosts"], path
