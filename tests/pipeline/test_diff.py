"""`clustergen diff` against a configured workdir, with and without the age key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.cli import main

from .conftest import SECRET_TOKEN, edit


def _diff(workdir: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["diff", "--config", str(workdir / "cluster.yaml"), *args])
    return code, capsys.readouterr().out


def test_clean_right_after_configure(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _diff(workdir, capsys, "--check") == (0, "no differences\n")


def test_domain_change_lists_every_affected_file_and_object(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Manifests say ${SECRET_DOMAIN} (Flux substitutes it), so the domain lives in one Secret;
    # the runbooks under docs/ name it for the reader (curl, dig).
    edit(workdir / "cluster.yaml", domain__name="home.example.org")
    code, out = _diff(workdir, capsys, "--check", "--format", "json")
    assert code == 1
    report = json.loads(out)
    secret = "kubernetes/components/sops/cluster-secrets.sops.yaml"
    changed = [entry for entry in report["changed"] if not entry["path"].startswith("docs/")]
    assert [entry["path"] for entry in changed] == [secret]
    assert {e["path"] for e in report["changed"]} - {secret} <= {
        "docs/adding-an-app.md",
        "docs/post-install-checks.md",
        "docs/troubleshooting.md",
    }
    (obj,) = changed[0]["objects"]
    assert (obj["kind"], obj["name"], obj["change"]) == ("Secret", "cluster-secrets", "changed")
    assert obj["secret_keys_changed"] == ["SECRET_DOMAIN"]
    manifests = json.dumps(changed)
    assert "home.example.org" not in manifests
    # Stable for tooling: the same input gives the same bytes.
    assert _diff(workdir, capsys, "--format", "json")[1] == out


def test_secret_change_names_the_key_never_the_value(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(workdir / "cluster.yaml", dns__token="cf-token-brand-new-9876")
    code, out = _diff(workdir, capsys, "--check")
    assert code == 1
    assert "secret.sops.yaml" in out
    assert "cf-token-brand-new-9876" not in out and SECRET_TOKEN not in out


def test_without_keys_secret_files_are_not_compared(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # CI: the committed tree, no age.key and no webhook.token.
    (workdir / "age.key").unlink()
    (workdir / "webhook.token").unlink()
    code, out = _diff(workdir, capsys, "--check", "--format", "summary")
    assert code == 0, out
    assert "not compared: no age key" in out
    edit(workdir / "cluster.yaml", repository__branch="trunk")
    code, out = _diff(workdir, capsys, "--check", "--format", "summary")
    assert code == 1
    assert "kubernetes/flux/" in out or "flux-instance" in out
