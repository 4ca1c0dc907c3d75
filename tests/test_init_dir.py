from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from generator import paths
from generator.errors import SideFileError
from generator.init_dir import init_workdir, missing
from generator.secrets.keys import load_deploy_key, public_openssh, read_age_key

SSH_CONFIG = "repository:\n  url: ssh://git@github.com/me/cluster\n"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_creates_missing_files_with_private_modes(tmp_path: Path) -> None:
    lines = init_workdir(tmp_path)
    assert lines[:3] == ["created cluster.yaml", "created age.key", "created webhook.token"]
    assert (tmp_path / "cluster.yaml").read_bytes() == paths.SAMPLE_CONFIG.read_bytes()
    assert mode(tmp_path / "age.key") == 0o600
    assert mode(tmp_path / "webhook.token") == 0o600
    assert mode(tmp_path / "cluster.yaml") == 0o600  # may hold plaintext secrets
    read_age_key(tmp_path / "age.key")  # a valid key
    assert len((tmp_path / "webhook.token").read_text().strip()) == 64


@pytest.mark.parametrize(("umask", "expected"), [(0o022, 0o600), (0o077, 0o600), (0o277, 0o400)])
def test_cluster_yaml_is_private_and_respects_the_umask(
    tmp_path: Path, umask: int, expected: int
) -> None:
    result = subprocess.run(
        [
            "sh",
            "-c",
            f'umask {umask:03o} && exec "$0" -m generator init --dir "$1"',
            sys.executable,
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert mode(tmp_path / "cluster.yaml") == expected


def test_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "cluster.yaml").write_text(SSH_CONFIG)
    init_workdir(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    lines = init_workdir(tmp_path)
    assert lines == [
        f"kept {name} (already exists)"
        for name in ("cluster.yaml", "age.key", "webhook.token", "deploy.key", "deploy.key.pub")
    ]
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


def test_ssh_repository_gets_a_deploy_key_pair(tmp_path: Path) -> None:
    (tmp_path / "cluster.yaml").write_text(SSH_CONFIG)
    lines = init_workdir(tmp_path)
    assert lines[0] == "kept cluster.yaml (already exists)"
    assert lines[-2:] == ["created deploy.key", "created deploy.key.pub"]
    assert mode(tmp_path / "deploy.key") == 0o600
    assert mode(tmp_path / "deploy.key.pub") == 0o644
    key = load_deploy_key((tmp_path / "deploy.key").read_text())
    assert (tmp_path / "deploy.key.pub").read_text() == public_openssh(key)


def test_lost_public_half_is_derived_not_regenerated(tmp_path: Path) -> None:
    (tmp_path / "cluster.yaml").write_text(SSH_CONFIG)
    init_workdir(tmp_path)
    public = (tmp_path / "deploy.key.pub").read_text()
    (tmp_path / "deploy.key.pub").unlink()
    assert init_workdir(tmp_path)[-2:] == [
        "kept deploy.key (already exists)",
        "created deploy.key.pub",
    ]
    assert (tmp_path / "deploy.key.pub").read_text() == public


def test_public_half_without_private_is_refused(tmp_path: Path) -> None:
    (tmp_path / "cluster.yaml").write_text(SSH_CONFIG)
    (tmp_path / "deploy.key.pub").write_text("ssh-ed25519 AAAA mine\n")
    with pytest.raises(SideFileError, match=r"deploy\.key\.pub exists without deploy\.key"):
        init_workdir(tmp_path)
    assert (tmp_path / "deploy.key.pub").read_text() == "ssh-ed25519 AAAA mine\n"


def test_https_repository_gets_no_deploy_key(tmp_path: Path) -> None:
    (tmp_path / "cluster.yaml").write_text("repository:\n  url: https://github.com/me/c\n")
    init_workdir(tmp_path)
    assert not (tmp_path / "deploy.key").exists()


def test_unparsable_config_skips_the_deploy_key(tmp_path: Path) -> None:
    (tmp_path / "cluster.yaml").write_text("repository: [unclosed\n")
    lines = init_workdir(tmp_path)
    assert lines[-1].startswith("skipped deploy.key: cluster.yaml does not parse")
    assert "clustergen check" in lines[-1]
    assert (tmp_path / "age.key").exists()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_tracked_age_key_is_refused(tmp_path: Path) -> None:
    init_workdir(tmp_path)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "cluster.yaml", "age.key"], cwd=tmp_path, check=True)
    (tmp_path / "webhook.token").unlink()
    with pytest.raises(SideFileError) as err:
        init_workdir(tmp_path)
    message = str(err.value)
    assert "age.key is tracked by git" in message
    assert "git rm --cached age.key" in message and ".gitignore" in message
    assert "Rotating the age key" in message
    assert not (tmp_path / "webhook.token").exists()  # refused before creating anything
    # The advice works: once untracked, init goes ahead.
    subprocess.run(["git", "rm", "-q", "--cached", "age.key"], cwd=tmp_path, check=True)
    assert "created webhook.token" in init_workdir(tmp_path)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_untracked_keys_in_a_repository_are_fine(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    assert "created age.key" in init_workdir(tmp_path)


def test_missing_names_what_init_would_create(tmp_path: Path) -> None:
    assert missing(tmp_path) == ["cluster.yaml", "age.key", "webhook.token"]
    init_workdir(tmp_path)
    assert missing(tmp_path) == []
    config = tmp_path / "cluster.yaml"
    text = config.read_text()
    config.write_text(text.replace("url: https://github.com/", "url: ssh://git@github.com/"))
    assert missing(tmp_path) == ["deploy.key"]  # an ssh:// repository needs one
    init_workdir(tmp_path)
    assert missing(tmp_path) == []
