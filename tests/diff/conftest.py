"""A real age key and sops setup for the encrypted (old) side of diffs."""

from __future__ import annotations

from pathlib import Path

import pyrage
import pytest

from generator.secrets.sops import Sops

RULES = """\
creation_rules:
  - path_regex: .*\\.sops\\.ya?ml
    encrypted_regex: "^(data|stringData)$"
    age: {public}
"""


@pytest.fixture(scope="session")
def sops(tmp_path_factory: pytest.TempPathFactory) -> Sops:
    workdir = tmp_path_factory.mktemp("diff-sops")
    identity = pyrage.x25519.Identity.generate()
    key = workdir / "age.key"
    key.write_text(f"{identity}\n")
    config = workdir / ".sops.yaml"
    config.write_text(RULES.format(public=identity.to_public()))
    return Sops(age_key_file=key, config=config)


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    from generator.command import run

    run(["git", "init", "-q", "-b", "main", tmp_path])
    for key, value in (("user.email", "t@example.com"), ("user.name", "t")):
        run(["git", "config", key, value], cwd=tmp_path)
    return tmp_path
