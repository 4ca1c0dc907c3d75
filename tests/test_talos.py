"""`clustergen talos secret|bootstrap` against stub talhelper/talosctl that record their
arguments (they need live nodes), with real sops and a real age key for the secret."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from generator import cli, talos
from generator.errors import ClusterGenError
from generator.secrets.keys import generate_age_key, read_age_key
from generator.secrets.sops import Sops

GENSECRET = "cluster:\n  id: abc\n  secret: s3cr3t-pki\n"
TALHELPER = f"""#!/bin/sh
printf 'talhelper %s\\n' "$*" >> "$STUB_LOG"
case "$1" in
  gensecret) printf '{GENSECRET}' ;;
  genconfig) printf 'key %s\\n' "$SOPS_AGE_KEY_FILE" >> "$STUB_LOG"; mkdir -p clusterconfig ;;
  gencommand)
    case "$2" in
      apply) echo 'talosctl apply-config --insecure --nodes 192.168.1.10 --file cc/cp.yaml' ;;
      bootstrap) echo 'talosctl bootstrap --nodes 192.168.1.10' ;;
      kubeconfig) echo "talosctl kubeconfig --nodes 192.168.1.10 ${{3#--extra-flags=}}" ;;
    esac ;;
esac
"""
# Refuses the bootstrap $FAILS times (nodes rebooting), then succeeds or, with
# $BOOTSTRAPPED, answers as a cluster bootstrapped before.
TALOSCTL = """#!/bin/sh
printf 'talosctl %s\\n' "$*" >> "$STUB_LOG"
if [ "$1" = bootstrap ]; then
  n=$(($(cat "$STUB_LOG.count" 2>/dev/null || echo 0) + 1)); echo "$n" > "$STUB_LOG.count"
  if [ "$n" -le "${FAILS:-0}" ]; then echo "connection refused" >&2; exit 1; fi
  if [ -n "$BOOTSTRAPPED" ]; then echo "rpc error: code = AlreadyExists" >&2; exit 1; fi
fi
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name, text in (("talhelper", TALHELPER), ("talosctl", TALOSCTL)):
        (stubs / name).write_text(text)
        (stubs / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{stubs}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("STUB_LOG", str(tmp_path / "calls"))
    for name in ("SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    root = tmp_path / "repo"
    (root / "talos").mkdir(parents=True)
    (root / "talos/talconfig.yaml").write_text("clusterName: home\n")
    (root / "age.key").write_text(generate_age_key())
    public = read_age_key(root / "age.key").public
    (root / ".sops.yaml").write_text(
        f"creation_rules:\n  - path_regex: talos/.*\\.sops\\.ya?ml$\n    age: {public}\n"
    )
    return root


def calls(repo: Path) -> list[str]:
    return (repo.parent / "calls").read_text().splitlines()


def test_secret_is_made_once_and_never_plaintext_on_disk(repo: Path) -> None:
    assert talos.secret(repo).text == "created talos/talsecret.sops.yaml"
    written = (repo / "talos/talsecret.sops.yaml").read_bytes()
    assert b"s3cr3t-pki" not in written
    sops = Sops(age_key_file=repo / "age.key")
    plaintext = sops.decrypt(written, "talos/talsecret.sops.yaml")
    assert yaml.safe_load(plaintext) == yaml.safe_load(GENSECRET)
    assert sorted(p.name for p in (repo / "talos").iterdir()) == [
        "talconfig.yaml",
        "talsecret.sops.yaml",
    ]
    # The PKI is the cluster's: a second run keeps it and asks talhelper for nothing.
    assert talos.secret(repo).text.startswith("kept talos/talsecret.sops.yaml")
    assert (repo / "talos/talsecret.sops.yaml").read_bytes() == written
    assert calls(repo) == ["talhelper gensecret"]


def test_bootstrap_retries_until_the_controllers_accept(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAILS", "2")
    waiting: list[str] = []
    report = talos.bootstrap(repo, progress=waiting.append, wait=0)
    assert report.status == 0 and "bootstrapped etcd" in report.text
    bootstrap = "talosctl bootstrap --nodes 192.168.1.10"
    assert calls(repo) == [
        "talhelper gensecret",
        "talhelper genconfig --secret-file talsecret.sops.yaml --env-file talenv.yaml",
        f"key {repo / 'age.key'}",
        "talhelper gencommand apply --extra-flags=--insecure",
        "talosctl apply-config --insecure --nodes 192.168.1.10 --file cc/cp.yaml",
        *["talhelper gencommand bootstrap", bootstrap] * 3,
        f"talhelper gencommand kubeconfig --extra-flags={repo.resolve()} --force",
        f"talosctl kubeconfig --nodes 192.168.1.10 {repo.resolve()} --force",
    ]
    assert waiting == [
        "waiting for the controllers to accept the bootstrap (1/60)",
        "waiting for the controllers to accept the bootstrap (2/60)",
    ]


def test_a_bootstrapped_cluster_counts_as_done(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOOTSTRAPPED", "1")
    assert "bootstrapped etcd" in talos.bootstrap(repo, wait=0).text
    assert calls(repo).count("talosctl bootstrap --nodes 192.168.1.10") == 1


def test_bootstrap_gives_up_quoting_the_last_error(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAILS", "99")
    with pytest.raises(ClusterGenError, match=r"after 3 tries: .*connection refused"):
        talos.bootstrap(repo, attempts=3, wait=0)
    assert not any("kubeconfig" in call for call in calls(repo))


def test_missing_pieces_are_errors_not_tracebacks(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "age.key").rename(repo / "saved.key")
    assert cli.main(["talos", "bootstrap", "--dir", str(repo)]) == 1
    assert "age.key is missing" in capsys.readouterr().err
    (repo / "talos/talconfig.yaml").unlink()
    assert cli.main(["talos", "secret", "--dir", str(repo)]) == 1
    assert "run `uv run task configure` first" in capsys.readouterr().err
    monkeypatch.setenv("PATH", "/nonexistent")
    (repo / "talos/talconfig.yaml").write_text("clusterName: home\n")
    assert cli.main(["talos", "bootstrap", "--dir", str(repo)]) == 1
    assert "talhelper and talosctl not found on PATH" in capsys.readouterr().err


def test_a_secret_that_cannot_be_written_is_an_error_and_leaves_nothing(repo: Path) -> None:
    talos_dir = repo / "talos"
    talos_dir.chmod(0o555)
    immutable = os.geteuid() == 0  # modes do not stop root; an immutable folder does
    if immutable and subprocess.run(["chattr", "+i", talos_dir], check=False).returncode:
        talos_dir.chmod(0o755)
        pytest.skip("root, and no chattr to make a folder read-only")
    try:
        with pytest.raises(ClusterGenError, match=r"cannot write talos/talsecret.sops.yaml: "):
            talos.secret(repo)
        assert sorted(p.name for p in talos_dir.iterdir()) == ["talconfig.yaml"]
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", talos_dir], check=True)
        talos_dir.chmod(0o755)
