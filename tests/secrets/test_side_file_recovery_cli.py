"""A lost or leaked key file, through the CLI with real sops and age: check, init and
configure give one recovery, which creates the file 0600; loose modes are warned about;
a leaked webhook token or deploy key is replaced by `secrets rotate --webhook-token`.
The rotation runs as a child process; the other commands call `cli.main` in this process
(tests/process.py), as they run in children elsewhere."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from generator.pipeline import configure
from generator.secrets.continuity import WEBHOOK_SECRET
from tests.process import clustergen_in_process, run_clustergen
from tests.workdirs import configured_sample

SOPS = Path(sys.executable).parent / "sops"
GRAFANA_ADMIN = "kubernetes/apps/observability/grafana/app/grafana-admin.sops.yaml"


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SOPS_AGE")}


@pytest.fixture
def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    return configured_sample(tmp_path)


def _recovery(output: str) -> str:
    found = re.search(r"webhook\.token is missing, but .*", output)
    assert found, output
    return found.group(0)


def test_check_init_and_configure_give_one_recovery_that_makes_a_private_file(
    configured: Path,
) -> None:
    token = (configured / "webhook.token").read_text().strip()
    (configured / "webhook.token").unlink()
    said = {
        argv[0]: clustergen_in_process(argv, cwd=configured, env=_env())
        for argv in (["check"], ["init"], ["configure", "--no-validate"])
    }
    assert all(result.returncode == 1 for result in said.values())
    messages = {name: _recovery(r.stdout + r.stderr) for name, r in said.items()}
    assert len(set(messages.values())) == 1, messages
    command = re.search(r"`(\(umask 077 && .*\))`", messages["check"])
    assert command, messages["check"]
    # As the user runs it; `uv run sops` is the sops of this environment.
    shell = command.group(1).replace("uv run sops", shlex.quote(str(SOPS)))
    subprocess.run(["sh", "-c", shell], cwd=configured, check=True, env=_env())
    recovered = configured / "webhook.token"
    assert recovered.read_text().strip() == token
    assert recovered.stat().st_mode & 0o777 == 0o600
    assert clustergen_in_process(["check"], cwd=configured, env=_env()).returncode == 0


def test_a_key_file_others_may_read_is_warned_about(configured: Path) -> None:
    (configured / "age.key").chmod(0o644)
    result = clustergen_in_process(["check"], cwd=configured, env=_env())
    assert result.returncode == 0, result.stderr
    assert "warning: age.key: readable by others (mode 0644)" in result.stderr
    assert "`chmod 600 age.key`" in result.stderr
    (configured / "age.key").chmod(0o600)
    assert "age.key" not in clustergen_in_process(["check"], cwd=configured, env=_env()).stderr


def test_rotate_webhook_token_replaces_it_and_configure_re_encrypts(configured: Path) -> None:
    config = configured / "cluster.yaml"
    text = config.read_text()
    monitoring = (
        "  monitoring:\n    # Metrics stack, Grafana dashboards, alert rules. Default: false.\n"
    )
    assert f"{monitoring}    enabled: false\n" in text
    config.write_text(
        text.replace(f"{monitoring}    enabled: false", f"{monitoring}    enabled: true")
    )
    configure(config, validate=False)
    old_token = (configured / "webhook.token").read_text()
    before = (configured / WEBHOOK_SECRET).read_bytes()
    grafana = configured / GRAFANA_ADMIN
    grafana_before = grafana.read_bytes()
    result = run_clustergen(["secrets", "rotate", "--webhook-token"], cwd=configured, env=_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "replaced webhook.token (the old one is webhook.token.old)" in result.stdout
    new = configured / "webhook.token"
    assert new.read_text() != old_token and new.stat().st_mode & 0o777 == 0o600
    assert (configured / "webhook.token.old").read_text() == old_token
    again = clustergen_in_process(
        ["secrets", "rotate", "--webhook-token"], cwd=configured, env=_env()
    )
    assert again.returncode == 1 and "webhook.token.old" in again.stdout + again.stderr
    assert new.read_text() != old_token  # nothing changed by the refusal
    done = clustergen_in_process(["configure", "--no-validate"], cwd=configured, env=_env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert (configured / WEBHOOK_SECRET).read_bytes() != before
    # Grafana's admin password does not derive from the token: same plaintext, same bytes.
    assert grafana.read_bytes() == grafana_before
