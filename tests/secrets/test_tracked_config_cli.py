"""A secret value in a git-tracked cluster.yaml is refused by check, configure, secrets
check and the pre-commit hook (key and line named); a key set in both cluster.yaml and
the overlay to different values is warned about. Through the CLI, real git, sops and age."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from generator.paths import TEMPLATE_TREE
from generator.secrets.sops import Sops
from tests.process import clustergen_in_process, git, run_clustergen
from tests.workdirs import configured_sample

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_TOKEN = "token: fake-cloudflare-token-replace-me"
REAL_TOKEN = "token: r3al-cloudflare-t0ken-abcdef"
OVERLAY = "cluster.secrets.sops.yaml"


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SOPS_AGE")}


@pytest.fixture
def moved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The README's way: the token moved to the overlay, cluster.yaml committed."""
    for name in ("SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    configured_sample(tmp_path)
    sops = Sops(age_key_file=tmp_path / "age.key", config=tmp_path / ".sops.yaml")
    plain = b"dns:\n  token: r3al-cloudflare-t0ken-abcdef\n"
    (tmp_path / OVERLAY).write_bytes(sops.encrypt(plain, OVERLAY))
    config = tmp_path / "cluster.yaml"
    config.write_text(config.read_text().replace(SAMPLE_TOKEN, 'token: ""'))
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-f", "cluster.yaml")
    return tmp_path


def _line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_a_secret_put_back_into_a_tracked_cluster_yaml_is_refused(moved: Path) -> None:
    assert clustergen_in_process(["check"], cwd=moved, env=_env()).returncode == 0
    config = moved / "cluster.yaml"
    config.write_text(config.read_text().replace('token: ""', REAL_TOKEN))
    where = f"cluster.yaml:{_line_of(config, REAL_TOKEN)} dns.token"
    for argv in (["check"], ["configure", "--no-validate"], ["secrets", "check"]):
        # secrets check as a child process; check and configure run as children elsewhere.
        run = run_clustergen if argv[0] == "secrets" else clustergen_in_process
        result = run(argv, cwd=moved, env=_env())
        said = result.stdout + result.stderr
        assert result.returncode == 1, (argv, said)
        assert "cluster.yaml is tracked by git, but holds secret values" in said, argv
        assert where in said and "git rm --cached cluster.yaml" in said, said
        assert "r3al-cloudflare" not in said  # the value is never echoed


@pytest.mark.skipif(shutil.which("uv") is None, reason="the hook runs clustergen with uv")
def test_the_pre_commit_hook_refuses_it(
    moved: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    config = moved / "cluster.yaml"
    config.write_text(config.read_text().replace('token: ""', REAL_TOKEN))
    script = TEMPLATE_TREE / "scripts" / "check-unencrypted-secrets.sh"
    # In a user's repository clustergen is the project uv finds; here it is this checkout.
    shim_dir = tmp_path_factory.mktemp("bin")
    shim = shim_dir / "uv"
    shim.write_text(f'#!/bin/sh\nshift\nexec {shutil.which("uv")} run --project {ROOT} "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    env = {**_env(), "PATH": f"{shim_dir}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        ["sh", str(script), "cluster.yaml"], cwd=moved, env=env, capture_output=True, text=True
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "dns.token" in result.stderr and "commit refused" in result.stderr


def test_a_key_set_in_both_places_is_warned_about(moved: Path) -> None:
    git(moved, "rm", "-q", "--cached", "cluster.yaml")
    config = moved / "cluster.yaml"
    config.write_text(config.read_text().replace('token: ""', "token: an-0ther-token-value"))
    result = clustergen_in_process(["check"], cwd=moved, env=_env())
    assert result.returncode == 0, result.stdout + result.stderr
    line = _line_of(config, "an-0ther-token-value")
    assert f"warning: cluster.yaml:{line}:" in result.stderr
    assert f"dns.token: also set, to another value, in {OVERLAY}" in result.stderr
    assert "an-0ther" not in result.stderr
