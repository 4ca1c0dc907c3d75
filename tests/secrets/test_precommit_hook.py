"""The rendered repo's pre-commit hook (templates/config/scripts/check-unencrypted-secrets.sh)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from sops_helpers import KeyPair, write_rules

from generator.paths import TEMPLATE_TREE
from generator.secrets.sops import Sops
from tests.process import git
from tests.rendering import render_sample

SCRIPT = TEMPLATE_TREE / "scripts" / "check-unencrypted-secrets.sh"
SECRET = b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\nstringData:\n  k: v4lue\n"
ENCRYPTED = "kubernetes/apps/a/secret.sops.yaml"
PLAIN = "kubernetes/apps/b/secret.sops.yaml"


@pytest.fixture
def repo(tmp_path: Path, age: KeyPair) -> Path:
    rules = write_rules(tmp_path, age.key.public)
    for rel, data in (
        (ENCRYPTED, Sops(config=rules).encrypt(SECRET, ENCRYPTED)),
        (PLAIN, SECRET),
        ("README.md", b"# hi\n"),
        ("age.key", age.path.read_bytes()),
    ):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    return tmp_path


def hook(repo: Path, *files: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(SCRIPT), *files], cwd=repo, capture_output=True, text=True, check=False
    )


def test_passes_encrypted_and_ordinary_files(repo: Path) -> None:
    result = hook(repo, ENCRYPTED, "README.md", ".sops.yaml")
    assert result.returncode == 0, result.stderr


def test_refuses_plaintext_secret_and_key_files(repo: Path) -> None:
    result = hook(repo, ENCRYPTED, PLAIN, "age.key")
    assert result.returncode == 1
    assert f"{PLAIN}: not encrypted" in result.stderr
    assert "age.key: private key file staged; run: git rm --cached 'age.key'" in result.stderr
    assert ENCRYPTED not in result.stderr


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_without_arguments_checks_the_staged_files(repo: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", ENCRYPTED, "README.md"], cwd=repo, check=True)
    assert hook(repo).returncode == 0
    subprocess.run(["git", "add", PLAIN], cwd=repo, check=True)
    result = hook(repo)
    assert result.returncode == 1 and PLAIN in result.stderr


def test_pre_commit_config_runs_the_script_on_the_right_files() -> None:
    config = yaml.safe_load(render_sample({})[".pre-commit-config.yaml"])
    (local,) = config["repos"]
    assert local["repo"] == "local"
    (hook_config,) = [h for h in local["hooks"] if h["id"] == "check-unencrypted-secrets"]
    assert hook_config["entry"] == "sh scripts/check-unencrypted-secrets.sh"
    files, exclude = re.compile(hook_config["files"]), re.compile(hook_config["exclude"])
    selected = [
        p
        for p in (ENCRYPTED, "age.key", "sub/deploy.key", "cloudflare-tunnel.json", "README.md")
        if files.search(p) and not exclude.search(p)
    ]
    assert selected == [ENCRYPTED, "age.key", "sub/deploy.key", "cloudflare-tunnel.json"]
    assert exclude.search(".sops.yaml")


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_without_arguments_judges_the_staged_content_not_the_work_tree(repo: Path) -> None:
    git(repo, "init", "-q", check=False)
    git(repo, "add", PLAIN, check=False)
    # Encrypted on disk afterwards, but the commit would still hold the plaintext.
    (repo / PLAIN).write_bytes((repo / ENCRYPTED).read_bytes())
    result = hook(repo)
    assert result.returncode == 1 and f"{PLAIN}: not encrypted" in result.stderr


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_installed_as_a_git_hook_it_blocks_the_commit(repo: Path) -> None:
    git(repo, "init", "-q", check=False)
    hook_file = repo / ".git" / "hooks" / "pre-commit"
    hook_file.write_text(f"#!/bin/sh\nexec sh {SCRIPT}\n")
    hook_file.chmod(0o755)
    git(repo, "add", ENCRYPTED, "README.md", check=False)
    assert git(repo, "commit", "-q", "-m", "ok", check=False).returncode == 0

    for staged in (PLAIN, "age.key"):
        git(repo, "add", "-f", staged, check=False)
        refused = git(repo, "commit", "-q", "-m", "leak", check=False)
        assert refused.returncode != 0 and "commit refused" in refused.stderr, staged
        git(repo, "rm", "-q", "--cached", staged, check=False)
    log = git(repo, "log", "--format=%s", check=False).stdout.split()
    assert log == ["ok"]
