"""A value switched back gives each secret back the exact ciphertext it had then
(secrets/known_ciphertexts.py): a revert of cluster.yaml is a revert of the secrets too,
and no sops process runs for them."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.pipeline import configure

from .conftest import edit


def _secrets(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*.sops.*"))
        if ".clustergen" not in p.parts
    }


def test_switching_a_value_back_and_forth_brings_back_its_ciphertext(
    workdir: Path, sops_calls: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # nothing recorded yet
    config = workdir / "cluster.yaml"
    edit(config, dns__token="cf-token-switched-one")
    configure(config, validate=False)
    one = _secrets(workdir)
    edit(config, dns__token="cf-token-switched-two")
    configure(config, validate=False)
    two = _secrets(workdir)
    changed = sorted(path for path in one if one[path] != two[path])
    assert changed  # the token renders into these secrets
    sops_calls.unlink()

    edit(config, dns__token="cf-token-switched-one")
    assert configure(config, validate=False).startswith(f"0 created, {len(changed)} updated")
    assert _secrets(workdir) == one
    assert not sops_calls.exists()  # no sops run: neither to compare nor to encrypt
