from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sops_helpers import KeyPair, encrypt_for, write_rules

from generator.errors import SecretsError
from generator.secrets.metadata import read_metadata
from generator.secrets.sops import MissingKey, Sops

SECRET = (
    b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: demo\nstringData:\n  token: s3cr3t-v4lue\n"
)


@pytest.fixture(scope="module")
def encrypted(age: KeyPair, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    rules = tmp_path_factory.mktemp("rules")
    return encrypt_for(age, rules, SECRET, "kubernetes/apps/demo/secret.sops.yaml")


def test_round_trip_keeps_two_space_yaml(age: KeyPair, encrypted: bytes) -> None:
    assert b"s3cr3t-v4lue" not in encrypted
    assert b"\nmetadata:\n  name: demo\n" in encrypted  # sops would use 4 spaces without `stores`
    assert b"ENC[AES256_GCM" in encrypted
    plain = Sops(age_key_file=age.path).decrypt(encrypted, "kubernetes/apps/demo/secret.sops.yaml")
    assert yaml.safe_load(plain) == yaml.safe_load(SECRET)


def test_decrypt_needs_no_rules_file(age: KeyPair, encrypted: bytes, tmp_path: Path) -> None:
    # First configure: the workdir has no .sops.yaml yet.
    sops = Sops(age_key_file=age.path, config=tmp_path / ".sops.yaml")
    assert b"s3cr3t-v4lue" in sops.decrypt(encrypted, "kubernetes/apps/demo/secret.sops.yaml")
    with pytest.raises(SecretsError, match="does not exist"):
        sops.encrypt(SECRET, "kubernetes/apps/demo/secret.sops.yaml")


def test_metadata_is_read_without_sops(age: KeyPair, encrypted: bytes) -> None:
    sops = Sops()
    assert sops.recipients(encrypted) == {age.key.public}
    meta = read_metadata(encrypted, "x.sops.yaml")
    assert meta is not None and meta.complete
    assert read_metadata(SECRET, "x.sops.yaml") is None
    assert sops.recipients(SECRET) == set()


def test_recipients_come_from_rules_not_the_environment(
    age: KeyPair, other_age: KeyPair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOPS_AGE_RECIPIENTS", other_age.key.public)
    sops = Sops(config=write_rules(tmp_path, age.key.public))
    out = sops.encrypt(SECRET, "kubernetes/x.sops.yaml")
    assert sops.recipients(out) == {age.key.public}


def test_wrong_key_names_file_and_recipients(other_age: KeyPair, encrypted: bytes) -> None:
    with pytest.raises(SecretsError) as err:
        Sops(age_key_file=other_age.path).decrypt(encrypted, "kubernetes/demo.sops.yaml")
    message = str(err.value)
    assert message.startswith(
        f"cannot decrypt kubernetes/demo.sops.yaml: age.key ({other_age.key.public}) "
        "cannot open it (it is encrypted for age1"
    )
    assert "age.key.old" in message and "Rotating the age key" in message
    assert "s3cr3t" not in message


def test_no_key_at_all_is_missing_key(tmp_path: Path, encrypted: bytes) -> None:
    with pytest.raises(MissingKey, match=r"age\.key not found"):
        Sops(age_key_file=tmp_path / "age.key").decrypt(encrypted, "x.sops.yaml")


def test_path_without_rule_is_explained(age: KeyPair, tmp_path: Path) -> None:
    sops = Sops(config=write_rules(tmp_path, age.key.public))
    with pytest.raises(SecretsError, match=r"cannot encrypt docs/x.sops.yaml: no creation rule"):
        sops.encrypt(SECRET, "docs/x.sops.yaml")


def test_missing_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLUSTERGEN_SOPS", "/nonexistent/sops")
    with pytest.raises(
        SecretsError, match=r"CLUSTERGEN_SOPS is /nonexistent/sops.*unset CLUSTERGEN_SOPS"
    ):
        Sops()


def test_relative_override_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLUSTERGEN_SOPS", "bin/sops")
    with pytest.raises(SecretsError, match="absolute path"):
        Sops()


def test_an_age_key_saved_with_a_byte_order_mark_and_crlf_still_decrypts(
    age: KeyPair, encrypted: bytes, tmp_path: Path
) -> None:
    # age itself reads the mark as part of the first line and rejects the file.
    key = tmp_path / "age.key"
    key.write_bytes(b"\xef\xbb\xbf" + age.path.read_bytes().replace(b"\n", b"\r\n"))
    plain = Sops(age_key_file=key).decrypt(encrypted, "kubernetes/apps/demo/secret.sops.yaml")
    assert b"s3cr3t-v4lue" in plain
