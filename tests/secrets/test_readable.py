"""undecryptable runs sops only for what the sealed manifest cannot vouch for
(generator/secrets/readable.py), and still finds each file the key cannot open."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from generator.secrets.audit import scan
from generator.secrets.fingerprint import Written
from generator.secrets.readable import decryptor, undecryptable
from generator.write.ownership import vouched_by
from tests.workdirs import configured_sample, corrupt_ciphertext

SECRET = "kubernetes/apps/network/cloudflare-dns/app/secret.sops.yaml"


@pytest.fixture
def counted(sops_calls: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    return sops_calls


def _check(work: Path) -> list[tuple[str, str]]:
    sops = decryptor(work)
    assert sops is not None
    return undecryptable(work, scan(work, None), sops, vouched_by(work, sops.fingerprint_key))


def _calls(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_files_as_configure_wrote_them_need_no_sops(tmp_path: Path, counted: Path) -> None:
    work = configured_sample(tmp_path / "repo")
    assert _check(work) == []
    assert _calls(counted) == 0
    # Without the manifest's word, each one is decrypted.
    sops = decryptor(work)
    assert sops is not None and undecryptable(work, scan(work, None), sops, Written()) == []
    assert _calls(counted) == len([f for f in scan(work, None) if f.encrypted]) > 1


def test_a_corrupted_value_is_still_found(tmp_path: Path, counted: Path) -> None:
    work = configured_sample(tmp_path / "repo")
    corrupt_ciphertext(work / SECRET, "api-token")
    assert [p for p, _ in _check(work)] == [SECRET]
    assert _calls(counted) == 1  # that file alone went to sops


def test_a_forged_manifest_vouches_for_nothing(tmp_path: Path, counted: Path) -> None:
    # Digests written into the manifest by hand break its seals: sops decides again.
    work = configured_sample(tmp_path / "repo")
    path = work / SECRET
    corrupt_ciphertext(path, "api-token")
    manifest = work / ".clustergen" / "manifest.json"
    from generator.write.manifest import sha256_hex

    old = re.search(rf'"{re.escape(SECRET)}": "([0-9a-f]{{64}})"', manifest.read_text())
    assert old is not None
    manifest.write_text(manifest.read_text().replace(old.group(1), sha256_hex(path.read_bytes())))
    assert [p for p, _ in _check(work)] == [SECRET]
