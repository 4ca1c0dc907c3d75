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


def _decrypted(log: Path, workdir: Path) -> list[str]:
    """The files sops decrypted, relative to `workdir`."""
    lines = log.read_text().splitlines() if log.exists() else []
    files = (line.split()[-1] for line in lines if " decrypt " in line)
    return sorted(str(Path(f).relative_to(workdir)) for f in files)


def test_secrets_as_configure_wrote_them_are_compared_without_sops(
    workdir: Path, capsys: pytest.CaptureFixture[str], sops_calls: Path
) -> None:
    # The sealed manifest vouches for each file's bytes and the plaintext they were made
    # from (secrets/fingerprint.py): nothing to decrypt right after configure.
    assert _diff(workdir, capsys, "--check") == (0, "no differences\n")
    assert _decrypted(sops_calls, workdir) == []
    # A changed value: only the files it renders into no longer match, and are decrypted.
    edit(workdir / "cluster.yaml", dns__token="cf-token-brand-new-9876")
    code, out = _diff(workdir, capsys, "--check", "--format", "json")
    changed = sorted(entry["path"] for entry in json.loads(out)["changed"])
    assert code == 1 and changed and all(".sops." in path for path in changed)
    assert _decrypted(sops_calls, workdir) == changed


def test_a_secret_file_not_as_configure_wrote_it_is_decrypted(
    workdir: Path, capsys: pytest.CaptureFixture[str], sops_calls: Path
) -> None:
    # Re-encrypted by hand to the same plaintext: other bytes, so no longer vouched for,
    # decrypted and found equal.
    from generator.secrets.sops import Sops

    path = "kubernetes/apps/cert-manager/cluster-issuers/app/secret.sops.yaml"
    sops = Sops(age_key_file=workdir / "age.key", config=workdir / ".sops.yaml")
    plaintext = sops.decrypt((workdir / path).read_bytes(), path)
    (workdir / path).write_bytes(sops.encrypt(plaintext, path))
    sops_calls.unlink()
    assert _diff(workdir, capsys) == (0, "no differences\n")
    assert _decrypted(sops_calls, workdir) == [path]
