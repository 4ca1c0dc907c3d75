"""The render-diff workflow's scripts, run for real on a configured repository.

The steps of the rendered `.github/workflows/render-diff.yaml` run in bash in a copy of the
repository without its gitignored key files (what `actions/checkout` gives), with the
repository secrets a user may or may not have set. `uv run --frozen clustergen` is a shim
that runs this checkout's clustergen. Which key files the workflow asks for is checked
against what `sidefiles.read_side_files` really requires.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import paths
from generator.config import load_cluster
from generator.errors import SideFileError
from generator.sidefiles import read_side_files
from tests.older_render import as_if_clustergen_wrote
from tests.rendering import render_context, sample_with, shared_templates, write_config
from tests.templates.conftest import ContextFor
from tests.workdirs import configured_sample

pytestmark = pytest.mark.slow

WORKFLOW = ".github/workflows/render-diff.yaml"
KEY_FILES = (paths.AGE_KEY_NAME, paths.WEBHOOK_TOKEN_NAME)
EXPRESSION = re.compile(r"\$\{\{\s*(?P<scope>secrets|steps)\.(?P<path>[\w.-]+)\s*\}\}")
UV_SHIM = """#!/bin/sh
# Stands in for `uv run --frozen clustergen ...` in the workflow's scripts.
[ "$1 $2 $3" = "run --frozen clustergen" ] || {{ echo "unexpected: uv $*" >&2; exit 97; }}
shift 3
exec "{python}" -m generator "$@"
"""


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample, initialised and configured: what the user commits, plus their keys
    (tests/workdirs.py: made once per process, copied here)."""
    return configured_sample(tmp_path_factory.mktemp("user-repo"))


@pytest.fixture(scope="module")
def shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    bin_dir = tmp_path_factory.mktemp("bin")
    uv = bin_dir / "uv"
    uv.write_text(UV_SHIM.format(python=sys.executable), encoding="utf-8")
    uv.chmod(0o755)
    return bin_dir


class Run:
    """One workflow run: its steps' outputs, the job summary, the checkout."""

    def __init__(self, checkout: Path, steps: list[dict[str, Any]], bin_dir: Path) -> None:
        self.checkout = checkout
        self.steps = {step["name"]: step for step in steps}
        self.outputs: dict[str, dict[str, str]] = {}
        self.summary = checkout.parent / "summary.md"
        self.summary.write_text("", encoding="utf-8")
        self.bin_dir = bin_dir

    def step(self, name: str, secrets: Mapping[str, str]) -> None:
        step = self.steps[name]
        output = self.checkout.parent / f"output-{step.get('id', 'x')}"
        output.write_text("", encoding="utf-8")
        env = {
            **os.environ,
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ['PATH']}",
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(self.summary),
        }
        for key, value in step.get("env", {}).items():
            env[key] = EXPRESSION.sub(lambda m: self._lookup(m, secrets), str(value))
        result = subprocess.run(
            ["bash", "-e", "-c", step["run"]],
            cwd=self.checkout,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"step {name!r} failed:\n{result.stdout}{result.stderr}"
        if "id" in step:
            pairs = output.read_text(encoding="utf-8").splitlines()
            self.outputs[step["id"]] = dict(line.split("=", 1) for line in pairs if line)

    def _lookup(self, match: re.Match[str], secrets: Mapping[str, str]) -> str:
        if match["scope"] == "secrets":
            return secrets.get(match["path"], "")
        step_id, _, key = match["path"].split(".")  # steps.<id>.outputs.<key>
        return self.outputs.get(step_id, {}).get(key, "")


RunWorkflow = Callable[..., Run]


@pytest.fixture
def run_workflow(repository: Path, shim: Path, tmp_path: Path) -> RunWorkflow:
    def _run(secrets: Mapping[str, str], edit: Callable[[Path], None] = lambda _: None) -> Run:
        checkout = tmp_path / "checkout"
        ignored = shutil.ignore_patterns(*KEY_FILES, "*.orig")
        shutil.copytree(repository, checkout, ignore=ignored)
        edit(checkout)
        workflow = yaml.safe_load((checkout / WORKFLOW).read_text(encoding="utf-8"))
        steps = [s for s in workflow["jobs"]["render-diff"]["steps"] if "run" in s]
        run = Run(checkout, steps, shim)
        install = run.steps["Install the keys"]
        assert install["if"] == "${{ hashFiles('cluster.yaml') != '' }}"
        if (checkout / paths.CONFIG_NAME).is_file():
            run.step("Install the keys", secrets)
            for name in KEY_FILES:
                if (checkout / name).exists():
                    assert stat.S_IMODE((checkout / name).stat().st_mode) == 0o600, name
        for name in ("Re-render and compare", "Remove the keys", "Write the report"):
            run.step(name, secrets)
        assert not [name for name in KEY_FILES if (checkout / name).exists()]
        return run

    return _run


def _secrets(repository: Path) -> dict[str, str]:
    return {
        "SOPS_AGE_KEY": (repository / paths.AGE_KEY_NAME).read_text(encoding="utf-8").strip(),
        "WEBHOOK_TOKEN": (repository / paths.WEBHOOK_TOKEN_NAME).read_text(encoding="utf-8"),
    }


def test_with_every_secret_the_secret_files_are_compared(
    run_workflow: RunWorkflow, repository: Path
) -> None:
    run = run_workflow(_secrets(repository))
    assert run.outputs["key"]["available"] == "true"
    assert run.outputs["diff"]["rc"] == "0"
    summary = run.summary.read_text(encoding="utf-8")
    assert "match a fresh render" in summary
    assert "not compared" not in summary


def test_the_age_key_alone_keeps_the_run_keyless(
    run_workflow: RunWorkflow, repository: Path
) -> None:
    # With age.key but no webhook.token clustergen could not render the secrets at all.
    run = run_workflow({"SOPS_AGE_KEY": _secrets(repository)["SOPS_AGE_KEY"]})
    assert run.outputs["key"] == {"available": "false", "missing": "WEBHOOK_TOKEN"}
    assert run.outputs["diff"]["rc"] == "0"
    summary = run.summary.read_text(encoding="utf-8")
    assert "match a fresh render" in summary
    assert "not set: `WEBHOOK_TOKEN`" in summary


def test_without_secrets_drift_is_reported_and_fails(run_workflow: RunWorkflow) -> None:
    def stale_render(checkout: Path) -> None:
        # Committed as an older render left it (a hand edit is no drift: configure merges it).
        ks = "kubernetes/flux/cluster/ks.yaml"
        text = (checkout / ks).read_text(encoding="utf-8")
        assert "interval: 1h" in text
        older = text.replace("interval: 1h", "interval: 2h", 1)
        as_if_clustergen_wrote(checkout, ks, older.encode())

    run = run_workflow({}, stale_render)
    assert run.outputs["key"]["missing"] == "SOPS_AGE_KEY WEBHOOK_TOKEN"
    assert run.outputs["diff"]["rc"] == "1"
    summary = run.summary.read_text(encoding="utf-8")
    assert "differ from a fresh render" in summary
    assert "kubernetes/flux/cluster/ks.yaml" in summary
    assert "were **not compared**" in summary
    fail = next(
        s
        for s in yaml.safe_load((run.checkout / WORKFLOW).read_text(encoding="utf-8"))["jobs"][
            "render-diff"
        ]["steps"]
        if s["name"] == "Fail on drift"
    )
    assert "steps.diff.outputs.rc != '0'" in fail["if"]


def test_an_uncommitted_cluster_yaml_is_a_warning_not_a_failure(
    run_workflow: RunWorkflow,
) -> None:
    run = run_workflow({}, lambda checkout: (checkout / paths.CONFIG_NAME).unlink())
    assert "key" not in run.outputs
    assert run.outputs["diff"]["rc"] == "skipped"
    assert "`cluster.yaml` is not committed" in run.summary.read_text(encoding="utf-8")


# --- the key files asked for are the ones clustergen reads ---------------------------------

SIDE_FILE_CASES: dict[str, dict[str, Any]] = {
    "sample": {},
    "ssh-tunnel": {
        "repository.url": "ssh://git@github.com/example/home-ops",
        "ingress.mode": "cloudflare-tunnel",
    },
    "no-webhook": {"repository.webhook_provider": "none"},
}


@pytest.fixture(scope="module")
def workflow_templates() -> Path:
    return shared_templates((".github",))


@pytest.mark.parametrize("case", sorted(SIDE_FILE_CASES))
def test_workflow_asks_for_exactly_the_side_files_clustergen_reads(
    case: str,
    context_for: ContextFor,
    workflow_templates: Path,
    tmp_path: Path,
) -> None:
    context = context_for(SIDE_FILE_CASES[case])
    text = render_context(context, workflow_templates).files[WORKFLOW].decode()
    steps = yaml.safe_load(text)["jobs"]["render-diff"]["steps"]
    install = next(s for s in steps if s["name"] == "Install the keys")
    written = re.findall(r"^printf '%s\\n' \"\$\{(\w+)\}\" > (\S+)$", install["run"], re.MULTILINE)
    assert [secret for secret, _ in written] == list(install["env"])
    written_files = [file for _, file in written]
    removed = next(s for s in steps if s["name"] == "Remove the keys")["run"].split()[2:]
    assert removed == written_files

    # read_side_files names every file it needs when none is there.
    config = write_config(sample_with(SIDE_FILE_CASES[case]), tmp_path)
    with pytest.raises(SideFileError) as caught:
        read_side_files(load_cluster(config).values, tmp_path)
    needed = re.findall(r"^\s+(\S+): missing", str(caught.value), re.MULTILINE)
    assert sorted(written_files) == sorted(needed)
