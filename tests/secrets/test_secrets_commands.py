from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sops_helpers import KeyPair, rules_for, write_rules

from generator import secrets_commands as commands
from generator.errors import SecretsError, WriteConflict
from generator.secrets.sops import Sops

GOOD = "kubernetes/apps/good/secret.sops.yaml"
STALE = "kubernetes/apps/stale/secret.sops.yaml"
PLAIN = "kubernetes/apps/plain/secret.sops.yaml"
OVERLAY = "cluster.secrets.sops.yaml"
VALUES = [b"g00d-value", b"st4le-value", b"pl4in-value", b"0verlay-value"]


def secret(name: str, value: bytes) -> bytes:
    return (
        b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  namespace: apps\n"
        % (name.encode())
        + b"stringData:\n  password: %s\n" % value
    )


def encrypt_for(tmp: Path, publics: list[str], plaintext: bytes, path: str) -> bytes:
    rules_dir = tmp / f"rules-{len(list(tmp.glob('rules-*')))}"
    rules_dir.mkdir()
    return Sops(config=write_rules(rules_dir, *publics)).encrypt(plaintext, path)


@pytest.fixture
def repo(tmp_path: Path, age: KeyPair, other_age: KeyPair) -> Path:
    """A rendered repo after a key rotation: other_age is the previous key."""
    root = tmp_path / "repo"
    files = {
        GOOD: encrypt_for(tmp_path, [age.key.public], secret("good", b"g00d-value"), GOOD),
        STALE: encrypt_for(
            tmp_path, [other_age.key.public], secret("stale", b"st4le-value"), STALE
        ),
        PLAIN: secret("plain", b"pl4in-value"),
        OVERLAY: encrypt_for(
            tmp_path,
            [age.key.public, other_age.key.public],
            b"dns:\n  token: 0verlay-value\n",
            OVERLAY,
        ),
        ".venv/lib/ignored.sops.yaml": b"not: checked\n",
        ".sops.yaml": rules_for(age.key.public),
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    shutil.copy(age.path, root / "age.key")
    shutil.copy(other_age.path, root / "age.key.old")
    return root


def test_check_lists_unencrypted_and_stale_files(repo: Path, other_age: KeyPair) -> None:
    report = commands.check(repo)
    assert report.status == 1
    out = report.text
    lines = out.splitlines()
    assert f"{PLAIN}: not encrypted (no sops metadata with a MAC)" in lines
    assert any(ln.startswith(f"{STALE}: encrypted for {other_age.key.public}, but") for ln in lines)
    assert any(ln.startswith(f"{OVERLAY}: encrypted for ") for ln in lines)
    assert GOOD not in out and "ignored" not in out
    assert "3 problem(s)" in out


def test_rotate_fixes_everything_check_found(repo: Path, age: KeyPair) -> None:
    good_before = (repo / GOOD).read_bytes()
    assert "3 file(s) re-encrypted, 1 already current" in commands.rotate(repo).text
    assert (repo / GOOD).read_bytes() == good_before
    sops = Sops(age_key_file=age.path)
    for rel, value in (
        (STALE, b"st4le-value"),
        (PLAIN, b"pl4in-value"),
        (OVERLAY, b"0verlay-value"),
    ):
        data = (repo / rel).read_bytes()
        assert value not in data
        assert sops.recipients(data) == {age.key.public}
        assert value in sops.decrypt(data, rel)
    assert commands.check(repo).status == 0
    assert "ok: 4 secret file(s)" in commands.check(repo).text
    assert "nothing to do" in commands.rotate(repo).text


def test_rotate_without_the_old_key_changes_nothing(repo: Path) -> None:
    (repo / "age.key.old").unlink()
    # The lock file (PID of the last writer) is the only thing a refused rotate leaves.
    before = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file() and p.name != "lock"}
    with pytest.raises(SecretsError, match=r"cannot decrypt .*age\.key\.old"):
        commands.rotate(repo)
    after = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file() and p.name != "lock"}
    assert after == before


def test_check_without_rules_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(SecretsError, match=r"no \.sops\.yaml .*clustergen configure"):
        commands.check(tmp_path)


def test_inventory_lists_names_never_values(repo: Path, age: KeyPair, other_age: KeyPair) -> None:
    assert commands.inventory(repo).text == "wrote docs/SECRETS.md"
    text = (repo / "docs/SECRETS.md").read_text()
    for rel in (GOOD, STALE, PLAIN, OVERLAY):
        assert f"`{rel}`" in text
    assert "Secret `apps/stale`: `password`" in text
    assert "`dns.token`" in text
    assert f"`{other_age.key.public}`" in text
    assert f"The local `age.key` is recipient `{age.key.public}`" in text
    assert "## Rotating the age key" in text
    for value in VALUES:
        assert value.decode() not in text
    assert "ignored" not in text
    # Generated once, it is ours to refresh; a hand-written file is not.
    assert commands.inventory(repo).text == "wrote docs/SECRETS.md"
    (repo / "docs/SECRETS.md").write_text("# my notes\n")
    with pytest.raises(WriteConflict, match=r"docs/SECRETS\.md"):
        commands.inventory(repo)
    assert (repo / "docs/SECRETS.md").read_text() == "# my notes\n"
