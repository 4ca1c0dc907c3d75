"""A secret the held age key cannot decrypt fails every check that reads secrets; without
any key (keyless CI) it is only "not compared". Through the CLI, with real sops and age:
`validate` as a child process, the other commands call `cli.main` in this process (they
run as children in tests/diff and tests/secrets/test_tracked_config_cli.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.process import clustergen_in_process, run_clustergen
from tests.workdirs import configured_sample, corrupt_ciphertext

SECRET = "kubernetes/apps/network/cloudflare-dns/app/secret.sops.yaml"


@pytest.fixture(scope="module")
def corrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A configured repository whose api-token value was corrupted (one ciphertext byte)."""
    work = tmp_path_factory.mktemp("corrupted")
    configured_sample(work)
    corrupt_ciphertext(work / SECRET, "api-token")
    return work


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_AGE")}
    return {**env, **extra}


def test_diff_check_fails_with_the_key(corrupted: Path) -> None:
    result = clustergen_in_process(["diff", "--check"], cwd=corrupted, env=_env())
    assert result.returncode == 1, result.stdout + result.stderr
    assert SECRET in result.stdout and "cannot decrypt with the age key held" in result.stdout


def test_diff_check_passes_without_any_key(corrupted: Path, tmp_path: Path) -> None:
    (corrupted / "age.key").rename(tmp_path / "age.key")
    try:
        result = clustergen_in_process(["diff", "--check"], cwd=corrupted, env=_env())
    finally:
        (tmp_path / "age.key").rename(corrupted / "age.key")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "not compared" in result.stdout and "cannot decrypt" not in result.stdout


def test_secrets_check_names_the_file(corrupted: Path) -> None:
    result = clustergen_in_process(["secrets", "check", "--dir", "."], cwd=corrupted, env=_env())
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{SECRET}: cannot be decrypted with the age key held" in result.stdout


def test_secrets_check_without_a_key_says_it_did_not_look(corrupted: Path, tmp_path: Path) -> None:
    (corrupted / "age.key").rename(tmp_path / "age.key")
    try:
        result = clustergen_in_process(
            ["secrets", "check", "--dir", "."], cwd=corrupted, env=_env()
        )
    finally:
        (tmp_path / "age.key").rename(corrupted / "age.key")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "not decrypted (no age key here)" in result.stdout


def test_validate_reports_the_file(corrupted: Path) -> None:
    result = run_clustergen(["validate", "."], cwd=corrupted, env=_env())
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{SECRET}: cannot be decrypted with the age key held" in result.stdout
