"""A fresh clone of a configured repository is not a first run: init and configure refuse to
mint a new age.key / webhook.token / deploy.key for secrets that already exist, and say what
to restore. Real git, real sops, real age keys."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from generator import paths
from generator.cli import main
from generator.errors import SideFileError
from generator.init_dir import init_workdir
from generator.pipeline import configure
from generator.secrets.keys import generate_age_key, read_age_key
from generator.secrets.sops import find_sops
from tests.pipeline.conftest import edit, snapshot
from tests.process import git

WEBHOOK_SECRET = "kubernetes/apps/flux-system/flux-webhook/app/secret.sops.yaml"
ROTATION = "see 'Rotating the age key' in README.md or docs/SECRETS.md"


@pytest.fixture
def clone(workdir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone of the configured, committed workdir on a "new laptop": no keys, and the
    user's own cluster.yaml copied over (it is never committed)."""
    if shutil.which("git") is None:
        pytest.skip("needs git")
    # Users clone this project, so its .gitignore (keys, cluster.yaml) is theirs.
    shutil.copy2(paths.DATA_ROOT / ".gitignore", workdir / ".gitignore")
    git(workdir, "init", "-q", "-b", "main")
    git(workdir, "add", "-A")
    git(workdir, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "x")
    target = tmp_path_factory.mktemp("laptop") / "repo"
    git(workdir.parent, "clone", "-q", str(workdir), str(target))
    assert not (target / "age.key").exists() and not (target / "webhook.token").exists()
    shutil.copy2(workdir / "cluster.yaml", target / "cluster.yaml")
    return target


def _recovery(secret: str, field: str, out: str) -> str:
    return (
        "restore it, or recover it with `(umask 077 && SOPS_AGE_KEY_FILE=age.key uv run sops "
        f'decrypt --extract \'["stringData"]["{field}"]\' {secret} > {out})`'
    )


def test_init_in_a_fresh_clone_refuses_to_mint_keys(
    clone: Path, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    public = read_age_key(workdir / "age.key").public
    before = snapshot(clone)
    assert main(["init", "--dir", str(clone)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "error: this repository already has secrets; nothing was created or written:",
        "  age.key is missing, but .sops.yaml, bootstrap/sops-age.sops.yaml, "
        "kubernetes/apps/cert-manager/cluster-issuers/app/secret.sops.yaml and 3 more are "
        f"encrypted for {public}; a new key "
        "would lock Flux out of them. Restore the age.key holding that key next to "
        "cluster.yaml (from your password manager or backup); when rotating keys, keep the "
        f"old one as age.key.old ({ROTATION})",
        f"  webhook.token is missing, but {WEBHOOK_SECRET} holds the token the push webhook "
        "already uses; " + _recovery(WEBHOOK_SECRET, "token", "webhook.token"),
    ]
    assert snapshot(clone) == before
    # configure (task configure runs init first) refuses the same way, before rendering.
    with pytest.raises(SideFileError, match=r"age\.key is missing, but \.sops\.yaml"):
        configure(clone / "cluster.yaml", validate=False)
    assert snapshot(clone) == before


def test_a_different_age_key_is_refused(clone: Path, workdir: Path) -> None:
    (clone / "age.key").write_text(generate_age_key())
    shutil.copy2(workdir / "webhook.token", clone / "webhook.token")
    mine = read_age_key(clone / "age.key").public
    before = snapshot(clone)
    with pytest.raises(SideFileError) as err:
        init_workdir(clone)
    assert f"  age.key ({mine}) cannot decrypt .sops.yaml, bootstrap/" in str(err.value)
    with pytest.raises(SideFileError):
        configure(clone / "cluster.yaml", validate=False)
    assert snapshot(clone) == before


def test_the_recovery_command_restores_the_token_and_nothing_changes(
    clone: Path, workdir: Path
) -> None:
    shutil.copy2(workdir / "age.key", clone / "age.key")
    with pytest.raises(SideFileError) as err:
        init_workdir(clone)
    command = str(err.value).split("`")[1]
    assert command.startswith("(umask 077 && SOPS_AGE_KEY_FILE=age.key uv run sops decrypt")
    # `uv run sops` is the sops of this project's environment: the same binary, by path.
    shell = command.replace("uv run sops", shlex.quote(str(find_sops())))
    env = {"PATH": "/usr/bin:/bin"}
    subprocess.run(["sh", "-c", shell], cwd=clone, env=env, capture_output=True, check=True)
    assert (clone / "webhook.token").read_text().strip() == (
        (workdir / "webhook.token").read_text().strip()
    )
    assert (clone / "webhook.token").stat().st_mode & 0o777 == 0o600
    init_workdir(clone)  # now nothing is missing
    committed = {p: c for p, (c, _) in snapshot(clone).items() if ".sops." in p}
    configure(clone / "cluster.yaml", validate=False)
    after = {p: c for p, (c, _) in snapshot(clone).items() if ".sops." in p}
    assert after == committed  # the same key and token: every ciphertext kept


def test_ssh_deploy_key_is_not_reminted(workdir: Path) -> None:
    edit(workdir / "cluster.yaml", repository__url="ssh://git@github.com/example/home-ops")
    init_workdir(workdir)
    configure(workdir / "cluster.yaml", validate=False)
    (workdir / "deploy.key").unlink()
    (workdir / "deploy.key.pub").unlink()
    with pytest.raises(SideFileError) as err:
        init_workdir(workdir)
    secret = "bootstrap/deploy-key.sops.yaml"
    assert str(err.value).splitlines()[1] == (
        f"  deploy.key is missing, but {secret} holds the deploy key the repository trusts; "
        + _recovery(secret, "identity", "deploy.key")
    )
    assert not (workdir / "deploy.key").exists()


def test_check_without_the_key_passes_but_says_configure_will_refuse(
    clone: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A keyless checkout (the user's CI) checks clean; a person is told what configure says.
    assert main(["check", "--config", str(clone / "cluster.yaml")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("ok: ")
    assert "note: no age.key (configure needs it); webhook.token went unchecked too" in out
    assert out[-1].startswith(
        "note: configure will refuse until then: age.key is missing, but .sops.yaml, "
    )
