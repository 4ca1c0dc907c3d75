"""A secret whose plaintext comes back gets back the ciphertext made for it before
(generator/secrets/known_ciphertexts.py). Real sops, real age keys."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from sops_helpers import CountingSops, KeyPair, rules_for, write_rules

from generator.secrets.fingerprint import key_from_file
from generator.secrets.known_ciphertexts import KnownCiphertexts
from generator.secrets.metadata import parse_rules, rule_for

PATH = "kubernetes/apps/demo/secret.sops.yaml"
SECRET = b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: demo\nstringData:\n  token: %s\n"


@pytest.fixture
def sops(age: KeyPair, tmp_path: Path) -> CountingSops:
    return CountingSops(age_key_file=age.path, config=write_rules(tmp_path, age.key.public))


def record(key: KeyPair, directory: Path) -> KnownCiphertexts:
    """The record of `key`'s ciphertexts kept in `directory` (a user cache's subdirectory)."""
    directory.mkdir(mode=0o700, exist_ok=True)
    fingerprint_key = key_from_file(key.path)
    assert fingerprint_key is not None
    return KnownCiphertexts(fingerprint_key, directory)


def encrypt(known: KnownCiphertexts, sops: CountingSops, token: bytes) -> bytes:
    assert sops.config is not None
    rules = sops.config.read_bytes()
    rule = rule_for(parse_rules(rules), PATH)
    assert rule is not None
    return known.encrypt(sops, SECRET % token, PATH, rules=rules, rule=rule)


def test_a_plaintext_seen_before_gets_its_ciphertext_back_in_a_later_run(
    age: KeyPair, sops: CountingSops, tmp_path: Path
) -> None:
    first = record(age, tmp_path / "cache")
    one, two = encrypt(first, sops, b"one"), encrypt(first, sops, b"two")
    first.save()
    later = record(age, tmp_path / "cache")
    assert (encrypt(later, sops, b"one"), encrypt(later, sops, b"two")) == (one, two)
    assert sops.count("encrypt") == 2
    # Nothing kept elsewhere: made anew, and then kept too.
    elsewhere = record(age, tmp_path / "elsewhere")
    anew = encrypt(elsewhere, sops, b"one")
    assert anew != one and encrypt(elsewhere, sops, b"one") == anew
    assert sops.count("encrypt") == 3


def test_a_ciphertext_put_in_the_record_by_anyone_else_is_not_used(
    age: KeyPair, sops: CountingSops, tmp_path: Path
) -> None:
    known = record(age, tmp_path / "cache")
    made = encrypt(known, sops, b"real")
    known.save()
    # Anyone may encrypt to the recipients: swap in a ciphertext of other content.
    forged = encrypt(record(age, tmp_path / "elsewhere"), sops, b"forged")
    (file,) = (tmp_path / "cache").iterdir()
    entries = json.loads(file.read_text())
    for entry in entries.values():
        entry[0] = base64.b64encode(forged).decode("ascii")
    file.write_text(json.dumps(entries))
    again = encrypt(record(age, tmp_path / "cache"), sops, b"real")
    assert again not in (made, forged)
    assert sops.decrypt(again, PATH) == SECRET % b"real"
    assert sops.count("encrypt") == 3


def test_other_creation_rules_or_another_key_make_new_ciphertext(
    age: KeyPair, other_age: KeyPair, sops: CountingSops, tmp_path: Path
) -> None:
    known = record(age, tmp_path / "cache")
    made = encrypt(known, sops, b"same")
    both = tmp_path / "both"
    both.mkdir()
    (both / ".sops.yaml").write_bytes(rules_for(age.key.public, other_age.key.public))
    wider = CountingSops(age_key_file=age.path, config=both / ".sops.yaml", calls=sops.calls)
    for_both = encrypt(known, wider, b"same")
    assert for_both != made
    assert wider.recipients(for_both) == {age.key.public, other_age.key.public}
    assert encrypt(record(other_age, tmp_path / "cache"), sops, b"same") != made
    assert sops.count("encrypt") == 3
