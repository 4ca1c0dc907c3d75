"""Real age keys and real sops: one key pair and creation rules shared by the session."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from sops_helpers import KeyPair, make_key


@pytest.fixture(scope="session")
def age(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return make_key(tmp_path_factory.mktemp("age"))


@pytest.fixture(scope="session")
def other_age(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return make_key(tmp_path_factory.mktemp("other-age"))


@pytest.fixture(autouse=True)
def _clean_sops_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's own sops setup must not change what the tests see.
    for name in ("SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_RECIPIENTS", "CLUSTERGEN_SOPS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where tempfile puts things during the test, so we can look inside afterwards."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    return scratch
