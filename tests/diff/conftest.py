"""A real age key and sops setup for the encrypted (old) side of diffs."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.secrets.sops import Sops
from tests.fakes import sops_with_new_key

RULES = """\
creation_rules:
  - path_regex: .*\\.sops\\.ya?ml
    encrypted_regex: "^(data|stringData)$"
    age: AGE_PUBLIC_KEY
"""


@pytest.fixture(scope="session")
def sops(tmp_path_factory: pytest.TempPathFactory) -> Sops:
    return sops_with_new_key(tmp_path_factory.mktemp("diff-sops"), RULES)


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    from generator.command import run

    run(["git", "init", "-q", "-b", "main", tmp_path])
    for key, value in (("user.email", "t@example.com"), ("user.name", "t")):
        run(["git", "config", key, value], cwd=tmp_path)
    return tmp_path
