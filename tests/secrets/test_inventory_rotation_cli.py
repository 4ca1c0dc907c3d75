"""docs/SECRETS.md follows an age-key rotation (the README's steps, through the CLI with
real sops and age): `secrets rotate` refreshes it in its own transaction, and `secrets
check` reports it while it names the old recipient. `secrets rotate` runs as a child process,
the other steps call `cli.main` in this process (tests/process.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from generator.secrets.keys import read_age_key
from tests.process import clustergen_in_process, run_clustergen
from tests.workdirs import configured_sample

INVENTORY = "docs/SECRETS.md"


def _run(work: Path, *argv: str, child: bool = False) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_AGE")}
    run = run_clustergen if child else clustergen_in_process
    result = run(list(argv), cwd=work, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_rotation_refreshes_the_inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    configured_sample(tmp_path)
    _run(tmp_path, "secrets", "inventory")
    old = read_age_key(tmp_path / "age.key").public
    assert old in (tmp_path / INVENTORY).read_text()

    (tmp_path / "age.key").rename(tmp_path / "age.key.old")
    _run(tmp_path, "init")
    new = read_age_key(tmp_path / "age.key").public
    _run(tmp_path, "configure", "--no-validate")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_AGE")}
    stale = clustergen_in_process(["secrets", "check"], cwd=tmp_path, env=env)
    assert stale.returncode == 1 and f"{INVENTORY}: names other files" in stale.stdout

    assert f"refreshed {INVENTORY}" in _run(tmp_path, "secrets", "rotate", child=True)
    text = (tmp_path / INVENTORY).read_text()
    assert new in text and old not in text
    assert "ok:" in _run(tmp_path, "secrets", "check")
