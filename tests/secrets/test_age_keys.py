from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from generator.errors import SideFileError
from generator.secrets.keys import (
    generate_age_key,
    generate_deploy_key,
    generate_webhook_token,
    read_age_key,
)


def test_age_key_file_has_age_keygen_layout(tmp_path: Path) -> None:
    text = generate_age_key()
    lines = text.splitlines()
    assert re.fullmatch(r"# created: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", lines[0])
    assert re.fullmatch(r"# public key: age1[0-9a-z]{58}", lines[1])
    assert re.fullmatch(r"AGE-SECRET-KEY-1[0-9A-Z]{58}", lines[2])
    path = tmp_path / "age.key"
    path.write_text(text)
    key = read_age_key(path)
    assert key.identity == lines[2]
    assert key.public == lines[1].removeprefix("# public key: ")


def test_two_keys_differ() -> None:
    assert generate_age_key().splitlines()[2] != generate_age_key().splitlines()[2]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("", "no age secret key"),
        ("AGE-SECRET-KEY-1NOTBECH32\n", "not a valid age key"),
        ("garbage\n", "no age secret key"),
    ],
)
def test_corrupt_age_key_names_file_and_fix(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "age.key"
    path.write_text(content)
    with pytest.raises(SideFileError) as err:
        read_age_key(path)
    message = str(err.value)
    assert message.startswith("age.key")
    assert reason in message
    assert "`uv run task init`" in message


def test_public_key_comment_must_match(tmp_path: Path) -> None:
    first, second = generate_age_key().splitlines(), generate_age_key().splitlines()
    path = tmp_path / "age.key"
    path.write_text("\n".join([first[0], second[1], first[2]]) + "\n")
    with pytest.raises(SideFileError, match="does not match") as err:
        read_age_key(path)
    assert first[2] not in str(err.value)  # never echo the secret


def test_missing_age_key_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(SideFileError, match=r"age.key not found .*`uv run task init`"):
        read_age_key(tmp_path / "age.key")


def test_deploy_key_is_an_openssh_ed25519_pair() -> None:
    private, public = generate_deploy_key()
    assert private.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    key = serialization.load_ssh_private_key(private.encode(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    expected = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    assert public.startswith(expected.decode() + " ")
    assert public.endswith("\n")


def test_webhook_token_is_64_hex_chars() -> None:
    token = generate_webhook_token()
    assert re.fullmatch(r"[0-9a-f]{64}", token)
    assert token != generate_webhook_token()


def test_the_held_key_is_discovered_once(tmp_path: Path) -> None:
    from generator.secrets.keys import HeldKey, discover_age_key

    assert discover_age_key(tmp_path) is None
    (tmp_path / "age.key").write_text("# no key here\n")
    assert discover_age_key(tmp_path) == HeldKey(tmp_path / "age.key", None)
    (tmp_path / "age.key").write_text(generate_age_key())
    held = discover_age_key(tmp_path)
    assert held is not None and held.key == read_age_key(tmp_path / "age.key")


def test_an_age_key_with_a_byte_order_mark_and_crlf_reads_as_the_same_key(tmp_path: Path) -> None:
    text = generate_age_key()
    path = tmp_path / "age.key"
    path.write_text(text)
    plain = read_age_key(path)
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    assert read_age_key(path) == plain
    # Without the comments the mark sits right before the secret key.
    path.write_bytes(b"\xef\xbb\xbf" + plain.identity.encode() + b"\r\n")
    assert read_age_key(path) == plain


def test_a_key_file_variable_naming_no_file_is_no_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The Taskfile exports SOPS_AGE_KEY_FILE=<repo>/age.key in every clone, with the key
    # or without: without it, everything must behave as keyless (CI, a reviewer's clone).
    from generator.secrets.keys import key_in_env
    from generator.secrets.sops import MissingKey, Sops

    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(tmp_path / "age.key"))
    assert not key_in_env()
    with pytest.raises(MissingKey, match=r"cannot decrypt x\.sops\.yaml: no age key given"):
        Sops(age_key_file=None).decrypt(b"data: x\n", "x.sops.yaml")
    (tmp_path / "age.key").write_text(generate_age_key())
    assert key_in_env()
