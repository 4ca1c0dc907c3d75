"""The rendered repo is a clone of this template: its own test fixtures are not cluster secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.cli import main

PLAIN = "apiVersion: v1\nkind: Secret\nmetadata: {name: x}\nstringData: {k: plaintext}\n"


def test_fixtures_outside_the_cluster_dirs_are_ignored(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fixture = workdir / "tests/golden/snapshots/x/kubernetes/apps/a/secret.sops.yaml"
    fixture.parent.mkdir(parents=True)
    fixture.write_text(PLAIN)
    assert main(["secrets", "check", "--dir", str(workdir)]) == 0
    assert main(["validate", str(workdir)]) == 0
    capsys.readouterr()


def test_a_plaintext_secret_in_the_cluster_dirs_is_caught(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    leak = workdir / "kubernetes/apps/default/leak.sops.yaml"
    leak.write_text(PLAIN)
    assert main(["secrets", "check", "--dir", str(workdir)]) == 1
    assert "kubernetes/apps/default/leak.sops.yaml" in capsys.readouterr().out
    assert main(["validate", str(workdir)]) == 1
    assert "leak.sops.yaml" in capsys.readouterr().out
