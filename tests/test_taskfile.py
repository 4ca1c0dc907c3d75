"""Taskfile.yaml with the real `task` binary: non-interactive, and init runs when it is needed.

`task init` and `task configure` run for real in the first tests; the tests that only need
their result start from a copy of one made once per process (tests/workdirs.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests import workdirs
from tests.workdirs import configured_sample

pytestmark = pytest.mark.slow  # seconds of work: scheduled first (tests/conftest.py)

TASKFILE = Path(__file__).resolve().parents[1] / "Taskfile.yaml"
BIN = Path(sys.executable).parent
SSH_URL = "ssh://git@github.com/example/home-ops.git"


def task(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "CI": "true"}
    return subprocess.run(
        [str(BIN / "task"), *args],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def runs_init(workdir: Path) -> bool:
    """Whether `task configure` would run init first (a dry run evaluates the status checks)."""
    result = task(workdir, "--dry", "configure")
    assert result.returncode == 0, result.stderr
    return "clustergen init" in result.stdout + result.stderr


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    if not (BIN / "task").exists():
        pytest.skip("the task binary (go-task-bin) is not installed")
    shutil.copy(TASKFILE, tmp_path / "Taskfile.yaml")
    return tmp_path


@pytest.fixture
def initialized(workdir: Path) -> Path:
    """`workdir` as `task init` leaves it (a copy of one `init` made once per process)."""
    return workdirs.initialized(workdir)


def test_nothing_prompts() -> None:
    tasks = yaml.safe_load(TASKFILE.read_text())["tasks"]
    for name, spec in tasks.items():
        assert "prompt" not in spec and not spec.get("interactive"), name


def test_configure_runs_init_only_when_a_file_is_missing(workdir: Path) -> None:
    assert runs_init(workdir)
    result = task(workdir, "init")
    assert result.returncode == 0, result.stderr
    assert "created age.key" in result.stdout
    assert not runs_init(workdir)

    check = task(workdir, "check")
    assert check.returncode == 0 and check.stdout.startswith("ok: "), check.stderr

    (workdir / "webhook.token").unlink()
    assert runs_init(workdir)


def test_ssh_repository_makes_init_create_the_deploy_key(initialized: Path) -> None:
    workdir = initialized
    config = workdir / "cluster.yaml"
    config.write_text(
        config.read_text().replace("url: https://github.com/example/home-ops", f"url: {SSH_URL}")
    )
    assert runs_init(workdir), "deploy.key is missing, so configure must run init"
    result = task(workdir, "init")
    assert result.returncode == 0 and "created deploy.key" in result.stdout, result.stderr
    assert not runs_init(workdir)


def test_configure_in_a_clone_without_the_key_refuses_at_init(workdir: Path) -> None:
    # The repository already holds secrets for a key this checkout lacks: init-if-needed runs
    # (age.key is missing) and refuses, so configure never mints a new key.
    configured_sample(workdir)  # as `task init` and `task configure -- --no-validate` leave it
    (workdir / "age.key").rename(workdir.parent / "saved.key")
    result = task(workdir, "configure", "--", "--no-validate")
    assert result.returncode != 0
    assert "age.key is missing, but .sops.yaml" in result.stderr
    assert not (workdir / "age.key").exists()


def test_check_passes_strict_through(initialized: Path) -> None:
    config = initialized / "cluster.yaml"
    marker = "    # Metrics stack, Grafana dashboards, alert rules. Default: false.\n"
    text = config.read_text().replace(marker + "    enabled: false", marker + "    enabled: true")
    config.write_text(text)
    assert "warning: " in task(initialized, "check").stderr
    assert task(initialized, "check", "--", "--strict").returncode != 0


def test_tasks_stay_thin() -> None:
    """Logic (retries, pipes into sops) lives in tested Python: one command per step."""
    tasks = yaml.safe_load(TASKFILE.read_text())["tasks"]
    for name, spec in tasks.items():
        for cmd in spec.get("cmds", []):
            if isinstance(cmd, str):
                assert "\n" not in cmd.strip() and not set("|;>&") & set(cmd), (name, cmd)
    assert tasks["bootstrap:talos"]["cmds"] == ["clustergen talos bootstrap"]
    assert tasks["talos-secret"]["cmds"] == ["clustergen talos secret"]


def test_exit_code_passes_clustergen_s_own_code_through(initialized: Path) -> None:
    """go-task reports any failed command as 201; `-x` (--exit-code) passes clustergen's own
    code through, also from a task that calls another (configure → init-if-needed). go-task
    has no Taskfile, .taskrc or TASK_* setting for it (flag only, go-task v3.54), so the
    README spells it `uv run task -x check`."""
    workdir = initialized
    config = workdir / "cluster.yaml"
    config.write_text(config.read_text().replace("node_cidr: ", "node_cidr: 10.0.0.5/8 #", 1))

    assert task(workdir, "check").returncode == 201
    for name in ("check", "diff", "configure"):
        result = task(workdir, "-x", name)
        assert result.returncode == 1, (name, result.returncode, result.stderr)
        assert "network.node_cidr" in result.stderr, name

    (workdir / "kubernetes").mkdir()
    (workdir / "kubernetes" / "bad.yaml").write_text("---\na: [\n")
    result = task(workdir, "-x", "validate")
    assert result.returncode == 1, result.stdout
    # The 2-line file ends inside the list: its line 2, not the line after the end.
    assert "kubernetes/bad.yaml:2: invalid YAML" in result.stdout
    assert "at the end of the file (while parsing a flow node on line 2)" in result.stdout

    config.write_text(config.read_text().replace("10.0.0.5/8 #", "", 1))
    assert task(workdir, "-x", "check").returncode == 0
