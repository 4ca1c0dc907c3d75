"""The committed manifest is input a pull request can edit: it proves only what it can.

clustergen runs in this process (`cli.main`, tests/process.py), but for the poisoned
manifest's configure: a child process, as CI runs it on a pull request."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from generator.pipeline import configure
from generator.secrets.sops import Sops
from generator.write.manifest import sha256_hex
from tests.pipeline.conftest import SECRET_TOKEN, snapshot
from tests.process import clean_env, clustergen_in_process, run_clustergen

MANIFEST = ".clustergen/manifest.json"
DNS_SECRET = "kubernetes/apps/network/cloudflare-dns/app/secret.sops.yaml"


def edit_manifest(workdir: Path, **files: str) -> None:
    data = json.loads((workdir / MANIFEST).read_text())
    data["files"].update(files)
    (workdir / MANIFEST).write_text(json.dumps(data, indent=2))


def test_a_poisoned_manifest_deletes_nothing_of_the_users(workdir: Path) -> None:
    (workdir / "README.md").write_text("my notes\n")
    (workdir / "generator").mkdir()
    (workdir / "generator/cli.py").write_text("# the template's own code\n")
    poison = ["age.key", "cluster.yaml", "README.md", "generator/cli.py", "webhook.token"]
    edit_manifest(workdir, **{p: sha256_hex((workdir / p).read_bytes()) for p in poison})
    before = {p: (workdir / p).read_bytes() for p in poison}

    result = run_clustergen(["configure", "--no-validate"], cwd=workdir, env=clean_env())

    assert result.returncode == 0, result.stderr
    assert {p: (workdir / p).read_bytes() for p in poison} == before
    ignored = [line for line in result.stdout.splitlines() if line.startswith("manifest:")]
    assert ignored == [
        f"manifest: ignored the entry for {p}: clustergen never renders that path "
        "(file left as it is)"
        for p in sorted(poison)
    ]
    assert result.stdout.startswith("0 changed")
    # The rewritten manifest no longer claims them.
    assert not set(poison) & set(json.loads((workdir / MANIFEST).read_text())["files"])


def swap_ciphertext(workdir: Path, path: str, value: str) -> bytes:
    """What a pull request can do without the age key: encrypt to the public recipient."""
    sops = Sops(age_key_file=workdir / "age.key", config=workdir / ".sops.yaml")
    document = yaml.safe_load(sops.decrypt((workdir / path).read_bytes(), path))
    key = next(iter(document["stringData"]))
    document["stringData"][key] = value
    forged = Sops(config=workdir / ".sops.yaml").encrypt(yaml.safe_dump(document).encode(), path)
    (workdir / path).write_bytes(forged)
    edit_manifest(workdir, **{path: sha256_hex(forged)})
    return forged


def test_a_swapped_ciphertext_is_detected_without_decrypting(workdir: Path) -> None:
    forged = swap_ciphertext(workdir, DNS_SECRET, "attacker-token")
    before = snapshot(workdir)

    result = clustergen_in_process(["configure", "--no-validate"], cwd=workdir, env=clean_env())

    assert result.returncode == 1
    assert result.stderr.startswith(
        "error: 1 file(s) in the way; nothing was written:\n"
        f"  {DNS_SECRET}: its seal does not match the file's digest and fingerprint "
        "(changed outside clustergen)\n"
    )
    assert (workdir / DNS_SECRET).read_bytes() == forged
    assert snapshot(workdir) == before


def test_force_replaces_a_swapped_ciphertext_and_later_runs_are_clean(workdir: Path) -> None:
    swap_ciphertext(workdir, DNS_SECRET, "attacker-token")

    forced = configure(workdir / "cluster.yaml", force=True, validate=False)

    backup = f".clustergen/orig/{DNS_SECRET}.orig"
    assert f"  ~ {DNS_SECRET} (your version saved as {backup})" in forced
    assert (workdir / backup).stat().st_mode & 0o777 == 0o600
    sops = Sops(age_key_file=workdir / "age.key", config=workdir / ".sops.yaml")
    assert SECRET_TOKEN.encode() in sops.decrypt((workdir / DNS_SECRET).read_bytes(), DNS_SECRET)
    # The kept copy is never taken for a secret of the tree: nothing blocks the next runs.
    assert configure(workdir / "cluster.yaml").startswith("0 changed")
    check = clustergen_in_process(["secrets", "check"], cwd=workdir, env=clean_env())
    assert check.returncode == 0, check.stdout


def test_force_over_a_hand_edited_secret_does_not_block_later_runs(workdir: Path) -> None:
    sops = Sops(age_key_file=workdir / "age.key", config=workdir / ".sops.yaml")
    plaintext = sops.decrypt((workdir / DNS_SECRET).read_bytes(), DNS_SECRET)
    (workdir / DNS_SECRET).write_bytes(sops.encrypt(plaintext + b"# mine\n", DNS_SECRET))

    configure(workdir / "cluster.yaml", force=True, validate=False)

    assert not (workdir / f"{DNS_SECRET}.orig").exists()
    validated = configure(workdir / "cluster.yaml")
    assert validated.startswith("0 changed")
    again = clustergen_in_process(["configure"], cwd=workdir, env=clean_env())
    assert again.returncode == 0, again.stderr


def test_a_deleted_seal_falls_back_to_decrypting(workdir: Path) -> None:
    swap_ciphertext(workdir, DNS_SECRET, "attacker-token")
    data = json.loads((workdir / MANIFEST).read_text())
    del data["seals"][DNS_SECRET]
    (workdir / MANIFEST).write_text(json.dumps(data))

    report = configure(workdir / "cluster.yaml", validate=False)

    # Not trusted on sight: decrypted, found different, re-encrypted from cluster.yaml.
    assert f"  ~ {DNS_SECRET}" in report
    sops = Sops(age_key_file=workdir / "age.key", config=workdir / ".sops.yaml")
    assert b"attacker-token" not in sops.decrypt((workdir / DNS_SECRET).read_bytes(), DNS_SECRET)
