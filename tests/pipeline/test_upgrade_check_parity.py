"""`upgrade --check` says "configure will go through" only when configure does: the same
refusals (pipeline.refuse_before_render), the same validation of the planned tree, the same
reading of committed secrets during a key rotation (sops.decrypt_in_rotation). Through the
CLI, with real sops and age.

Every run calls `cli.main` in this process (tests/process.py): what is tested is that the
commands agree; each of them runs as a child process elsewhere (tests/pipeline/
test_upgrade_check.py and test_hand_edits.py, tests/diff/test_diff_cli.py,
tests/secrets/test_undecryptable_cli.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from generator.secrets.keys import generate_age_key, read_age_key
from generator.secrets.sops import Sops
from tests.pipeline.conftest import SECRET_TOKEN, snapshot
from tests.pipeline.test_hand_edits import env
from tests.pipeline.test_overrides import PATCH, write
from tests.process import clustergen_in_process

GO_THROUGH = "result: no conflicts; configure will go through"
STRAY = "kubernetes/apps/default/mine/secret.sops.yaml"
STRAY_PLAIN = (
    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: mine\n  namespace: default\n"
    "stringData:\n  password: hunter2-mine\n"
)


def cg(workdir: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return clustergen_in_process(list(argv), cwd=workdir, env=env())


def test_upgrade_check_reads_secrets_still_encrypted_for_age_key_old(workdir: Path) -> None:
    (workdir / "age.key").rename(workdir / "age.key.old")
    assert cg(workdir, "init").returncode == 0

    checked = cg(workdir, "upgrade", "--check")
    drift = cg(workdir, "diff", "--check")

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "cannot decrypt" not in checked.stdout + checked.stderr
    assert checked.stdout.rstrip().endswith(GO_THROUGH)
    # diff reads them the same way: differences (the new recipient), never a decrypt error.
    assert "cannot decrypt" not in drift.stdout + drift.stderr, drift.stderr
    assert drift.returncode == 1, drift.stderr
    # validate reads substitution sources the same way.
    validated = cg(workdir, "validate")
    assert "could not be decrypted" not in validated.stdout + validated.stderr
    assert validated.returncode == 0, validated.stderr
    # and configure, which the check said would go through, does.
    done = cg(workdir, "configure", "--no-validate")
    assert done.returncode == 0, done.stderr


def test_a_plaintext_token_in_a_tracked_cluster_yaml_is_refused_as_configure_does(
    workdir: Path,
) -> None:
    subprocess.run(["git", "init", "-q"], cwd=workdir, check=True)
    subprocess.run(["git", "add", "cluster.yaml"], cwd=workdir, check=True)
    before = snapshot(workdir)

    checked = cg(workdir, "upgrade", "--check")
    configured = cg(workdir, "configure", "--no-validate")
    drift = cg(workdir, "diff", "--check")
    (workdir / "age.key").rename(workdir / "elsewhere.key")
    keyless = cg(workdir, "diff", "--check")  # CI: the refusal needs no key
    (workdir / "elsewhere.key").rename(workdir / "age.key")

    said = "cluster.yaml is tracked by git, but holds secret values"
    for result in (checked, configured, drift, keyless):
        assert result.returncode == 1, result.stdout
        assert said in result.stderr
    assert "dns.token" in checked.stderr and SECRET_TOKEN not in checked.stderr
    assert GO_THROUGH not in checked.stdout
    assert snapshot(workdir) == before


def _encrypt_for_another_key(workdir: Path, tmp_path: Path) -> str:
    """STRAY encrypted by hand for a key that is not the repository's; its recipient."""
    other = tmp_path / "other.key"
    other.write_text(generate_age_key())
    public = read_age_key(other).public
    rules = tmp_path / "rules" / ".sops.yaml"
    rules.parent.mkdir()
    rules.write_text(
        "creation_rules:\n  - path_regex: .*\n    encrypted_regex: ^(data|stringData)$\n"
        f'    age: "{public}"\n'
    )
    ciphertext = Sops(config=rules).encrypt(STRAY_PLAIN.encode(), STRAY)
    (workdir / STRAY).parent.mkdir(parents=True)
    (workdir / STRAY).write_bytes(ciphertext)
    return public


def test_a_user_secret_for_another_key_is_named_as_such_not_as_a_lost_key(
    workdir: Path, tmp_path: Path
) -> None:
    public = _encrypt_for_another_key(workdir, tmp_path)
    before = snapshot(workdir)

    said = {
        argv[0]: cg(workdir, *argv)
        for argv in (["check"], ["configure"], ["upgrade", "--check"], ["diff", "--check"])
    }

    for name, result in said.items():
        assert result.returncode == 1, (name, result.stdout)
        assert "a new key would lock Flux out" not in result.stderr, name
        assert f"{STRAY} is encrypted for {public} only, not for the repository's key" in (
            result.stderr
        ), (name, result.stderr)
        assert f"git checkout -- {STRAY}" in result.stderr
    assert snapshot(workdir) == before


def test_an_override_that_breaks_validation_fails_the_check_as_it_fails_configure(
    workdir: Path,
) -> None:
    write(
        workdir,
        PATCH,
        "---\ntarget: {kind: HelmRelease, namespace: kube-system, name: cilium}\n"
        "patch:\n  spec: {interval: soon}\n",
    )
    before = snapshot(workdir)

    checked = cg(workdir, "upgrade", "--check")
    configured = cg(workdir, "configure")
    drift = cg(workdir, "diff", "--check")

    # diff --check is the drift check: it does not validate (CI's `validate` job does).
    assert drift.returncode == 1 and "spec.interval" not in drift.stdout + drift.stderr
    assert configured.returncode == 1
    assert checked.returncode == 1, checked.stdout + checked.stderr
    where = f"{PATCH}:2 HelmRelease/cilium: spec.interval"
    assert where in configured.stderr and where in checked.stdout
    assert "validation of the tree configure would write:" in checked.stdout
    assert "configure will refuse until they are fixed" in checked.stdout
    assert snapshot(workdir) == before


def test_a_clean_check_says_it_validated(workdir: Path) -> None:
    checked = cg(workdir, "upgrade", "--check")

    assert checked.returncode == 0, checked.stderr
    assert "validation of the tree configure would write:\n  validated: no errors" in (
        checked.stdout
    )
    assert checked.stdout.rstrip().endswith(GO_THROUGH)
