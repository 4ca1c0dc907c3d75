from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from sops_helpers import KeyPair, encrypt_for

from generator.errors import SecretsError
from generator.secrets.overlay import load_overlay
from generator.secrets.sops import MissingKey, Sops

OVERLAY = (
    b"dns:\n  token: cf-t0ken-value\nfeatures:\n  backups:\n    s3:\n      secret_key: s3-k3y\n"
)


@pytest.fixture(scope="module")
def encrypted_overlay(age: KeyPair, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return encrypt_for(age, tmp_path_factory.mktemp("rules"), OVERLAY, "cluster.secrets.sops.yaml")


def test_absent_overlay_is_none(tmp_path: Path) -> None:
    assert load_overlay(tmp_path, None) is None


def test_overlay_decrypts_to_plain_data(
    age: KeyPair, tmp_path: Path, encrypted_overlay: bytes
) -> None:
    assert b"cf-t0ken" not in encrypted_overlay
    (tmp_path / "cluster.secrets.sops.yaml").write_bytes(encrypted_overlay)
    data = load_overlay(tmp_path, Sops(age_key_file=age.path))
    assert data == {
        "dns": {"token": "cf-t0ken-value"},
        "features": {"backups": {"s3": {"secret_key": "s3-k3y"}}},
    }


def test_overlay_without_key_is_missing_key(tmp_path: Path, encrypted_overlay: bytes) -> None:
    (tmp_path / "cluster.secrets.sops.yaml").write_bytes(encrypted_overlay)
    with pytest.raises(MissingKey, match="no age key"):
        load_overlay(tmp_path, None)
    with pytest.raises(MissingKey, match="not found"):
        load_overlay(tmp_path, Sops(age_key_file=tmp_path / "age.key"))


def test_plaintext_overlay_is_refused(tmp_path: Path) -> None:
    (tmp_path / "cluster.secrets.sops.yaml").write_bytes(OVERLAY)
    with pytest.raises(SecretsError, match="is not encrypted") as err:
        load_overlay(tmp_path, None)
    assert "cf-t0ken" not in str(err.value)


def test_overlay_mid_rotation_uses_the_previous_key(
    age: KeyPair, other_age: KeyPair, tmp_path: Path, encrypted_overlay: bytes
) -> None:
    (tmp_path / "cluster.secrets.sops.yaml").write_bytes(encrypted_overlay)
    new_key = Sops(age_key_file=other_age.path)
    with pytest.raises(SecretsError, match="cannot open it"):
        load_overlay(tmp_path, new_key)
    shutil.copy(age.path, tmp_path / "age.key.old")
    assert load_overlay(tmp_path, new_key) == yaml.safe_load(OVERLAY)


def test_an_overlay_nested_beyond_the_bound_is_named_without_its_values(
    age: KeyPair, tmp_path: Path
) -> None:
    nested = "dns:\n" + "".join("  " * depth + f"k{depth}:\n" for depth in range(1, 40))
    nested += "  " * 40 + "token: cf-t0ken-value\n"
    rules = tmp_path / "rules"
    rules.mkdir()
    encrypted = encrypt_for(age, rules, nested.encode(), "cluster.secrets.sops.yaml")
    (tmp_path / "cluster.secrets.sops.yaml").write_bytes(encrypted)
    with pytest.raises(SecretsError) as caught:
        load_overlay(tmp_path, Sops(age_key_file=age.path))
    assert str(caught.value).startswith("cluster.secrets.sops.yaml does not parse as YAML (line ")
    assert str(caught.value).endswith(": nested more than 32 levels deep; at most 32 are allowed")
    assert "cf-t0ken" not in str(caught.value)
