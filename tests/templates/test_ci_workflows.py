"""The rendered repository's CI: workflows per features.ci flag, pinned actions.

Workflows are rendered from the sample config by the real renderer; each is checked for
structure (what actionlint would reject that we can see offline: missing permissions or
timeouts, dangling `needs`, secrets in `if:`, expressions inside shell scripts), against
SchemaStore's GitHub workflow schema (check-jsonschema) and by actionlint with shellcheck
(both from PyPI, tests/linters.py). Renovate: test_ci_renovate.py; the render-diff
scripts run for real in test_ci_render_diff.py.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import paths
from tests.linters import tool
from tests.templates.conftest import ContextFor, Render, make_renderer

WORKFLOWS = {
    "validate": ".github/workflows/validate.yaml",
    "render_diff": ".github/workflows/render-diff.yaml",
    "security_scan": ".github/workflows/security-scan.yaml",
    "sbom": ".github/workflows/sbom.yaml",
}
RENOVATE = ".renovaterc.json5"
CI_FILES = {**WORKFLOWS, "renovate": RENOVATE}

PINNED = re.compile(r"^[^@\s]+@[0-9a-f]{40}$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?:\s+#\s*(?P<comment>\S.*))?$")
VERSION_COMMENT = re.compile(r"^v?\d+(\.\d+)*$")
TOP_KEYS = {"name", "run-name", "on", "permissions", "env", "defaults", "concurrency", "jobs"}
JOB_KEYS = {
    "name", "needs", "if", "runs-on", "timeout-minutes", "permissions", "outputs", "steps",
    "strategy", "env", "concurrency", "environment", "defaults", "continue-on-error",
}  # fmt: skip
STEP_KEYS = {
    "name", "id", "if", "uses", "run", "with", "env", "shell", "working-directory",
    "continue-on-error", "timeout-minutes",
}  # fmt: skip
SCOPES = {
    "actions", "artifact-metadata", "attestations", "checks", "contents", "deployments",
    "discussions", "id-token", "issues", "models", "packages", "pages", "pull-requests",
    "repository-projects", "security-events", "statuses",
}  # fmt: skip


@pytest.fixture(scope="session")
def render_ci(ci_templates: Path, context_for: ContextFor) -> Render:
    return make_renderer(ci_templates, context_for)


@pytest.fixture(scope="session")
def workflows(render_ci: Render) -> dict[str, str]:
    files = render_ci({})
    return {path: files[path].decode() for path in WORKFLOWS.values()}


def _on(workflow: Mapping[Any, Any]) -> Any:
    # YAML 1.1 reads the bare key `on` as the boolean true.
    return workflow.get("on", workflow.get(True))


# --- flags ---------------------------------------------------------------------------


@pytest.mark.parametrize("flag", sorted(CI_FILES))
def test_each_flag_renders_its_file_and_nothing_else(render_ci: Render, flag: str) -> None:
    files = render_ci({f"features.ci.{flag}": False})
    assert CI_FILES[flag] not in files
    for other, path in CI_FILES.items():
        if other != flag:
            assert path in files, f"{path} vanished when features.ci.{flag} was turned off"


def test_all_flags_on_renders_every_file(render_ci: Render) -> None:
    files = render_ci({})
    assert set(CI_FILES.values()) <= set(files)


def test_ci_disabled_leaves_no_trace(render_ci: Render) -> None:
    files = render_ci({"features.ci.enabled": False})
    assert not [p for p in files if p.startswith(".github/") or p == RENOVATE]


def test_workflows_run_on_the_configured_branch(render_ci: Render) -> None:
    files = render_ci({"repository.branch": "production"})
    for path in (WORKFLOWS["validate"], WORKFLOWS["render_diff"]):
        assert _on(yaml.safe_load(files[path]))["push"]["branches"] == ["production"]


# --- pinned actions ------------------------------------------------------------------


def test_every_action_is_pinned_by_digest_with_its_version(workflows: dict[str, str]) -> None:
    seen = 0
    for path, text in workflows.items():
        for number, line in enumerate(text.splitlines(), 1):
            match = USES_LINE.match(line)
            if match is None:
                continue
            seen += 1
            ref, comment = match["ref"], match["comment"]
            if ref.startswith("./"):
                continue
            assert PINNED.match(ref), f"{path}:{number}: {ref} is not pinned to a commit digest"
            assert comment and VERSION_COMMENT.match(comment), f"{path}:{number}: no version"
        steps = [s for job in yaml.safe_load(text)["jobs"].values() for s in job["steps"]]
        assert sum("uses" in s for s in steps) == len(
            [line for line in text.splitlines() if USES_LINE.match(line)]
        ), f"{path}: a `uses:` the line check did not see"
    assert seen > 10


def test_pins_come_from_versions_and_are_all_used(workflows: dict[str, str]) -> None:
    actions = yaml.safe_load(paths.VERSIONS_FILE.read_text(encoding="utf-8"))["actions"]
    text = "\n".join(workflows.values())
    for key, action in actions.items():
        assert re.fullmatch(r"[0-9a-f]{40}", action["digest"]), key
        assert VERSION_COMMENT.match(action["version"]), key
        pin = f"uses: {action['uses']}@{action['digest']} # {action['version']}"
        assert pin in text, f"versions.yaml actions.{key} is used by no workflow"


# --- structure -----------------------------------------------------------------------


def _expressions_balanced(text: str) -> bool:
    return all(
        line.count("${{") == len(re.findall(r"\$\{\{.*?\}\}", line)) for line in text.splitlines()
    )


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_workflow_structure(workflows: dict[str, str], name: str) -> None:
    path = WORKFLOWS[name]
    workflow = yaml.safe_load(workflows[path])
    assert {str(k) if k is not True else "on" for k in workflow} <= TOP_KEYS
    assert _on(workflow), f"{path}: no triggers"
    # Nothing is granted by default: each job asks for what it needs.
    assert workflow["permissions"] == {}, f"{path}: top-level permissions must be {{}}"
    if "pull_request" in _on(workflow):
        assert "github.event.pull_request.number" in workflow["concurrency"]["group"]
        assert "pull_request" in str(workflow["concurrency"]["cancel-in-progress"])
    jobs = workflow["jobs"]
    for job_id, job in jobs.items():
        where = f"{path} jobs.{job_id}"
        assert set(job) <= JOB_KEYS, f"{where}: unknown keys {set(job) - JOB_KEYS}"
        assert job["runs-on"] and isinstance(job["timeout-minutes"], int), where
        assert 0 < job["timeout-minutes"] <= 60, where
        assert isinstance(job["permissions"], dict), f"{where}: no permissions"
        for scope, level in job["permissions"].items():
            assert scope in SCOPES and level in {"read", "write", "none"}, f"{where}: {scope}"
        if "id-token" in job["permissions"]:
            assert (name, job_id) == ("sbom", "attest"), f"{where}: only attest mints tokens"
        needs = job.get("needs", [])
        for need in [needs] if isinstance(needs, str) else needs:
            assert need in jobs, f"{where}: needs unknown job {need}"
        assert str(job.get("if", "")).count("secrets.") == 0, f"{where}: secrets in if"
        for index, step in enumerate(job["steps"]):
            at = f"{where}.steps[{index}] ({step.get('name')})"
            assert set(step) <= STEP_KEYS, f"{at}: unknown keys {set(step) - STEP_KEYS}"
            assert ("uses" in step) != ("run" in step), f"{at}: needs exactly one of uses/run"
            assert "name" in step, at
            assert "secrets." not in str(step.get("if", "")), f"{at}: secrets in if"
            # Expressions in a script are a script-injection risk: they go through env.
            assert "${{" not in step.get("run", ""), f"{at}: expression inside run"
    assert _expressions_balanced(workflows[path]), f"{path}: unbalanced ${{{{ }}}}"


def test_checkouts_keep_no_credentials(workflows: dict[str, str]) -> None:
    for path, text in workflows.items():
        for job in yaml.safe_load(text)["jobs"].values():
            for step in job["steps"]:
                if "actions/checkout@" in step.get("uses", ""):
                    assert step["with"]["persist-credentials"] is False, path


def test_render_diff_guards_the_key_files(workflows: dict[str, str]) -> None:
    job = yaml.safe_load(workflows[WORKFLOWS["render_diff"]])["jobs"]["render-diff"]
    names = [s["name"] for s in job["steps"]]
    script = next(s["run"] for s in job["steps"] if "> age.key" in s.get("run", ""))
    assert script.index("umask 077") < script.index("> age.key")
    assert "clustergen diff --check --format unified" in workflows[WORKFLOWS["render_diff"]]
    cleanup = next(s for s in job["steps"] if s["name"] == "Remove the keys")
    assert cleanup["if"] == "${{ always() }}"
    assert cleanup["run"].split()[:3] == ["rm", "-f", "age.key"]
    # Removed before any third-party step that follows the compare can read them.
    later = names[names.index("Re-render and compare") + 1 :]
    assert later[0] == "Remove the keys"


def test_security_scan_uploads_one_category_per_scan(workflows: dict[str, str]) -> None:
    jobs = yaml.safe_load(workflows[WORKFLOWS["security_scan"]])["jobs"]
    categories = [
        s["with"]["category"]
        for job in jobs.values()
        for s in job["steps"]
        if "codeql-action/upload-sarif@" in s.get("uses", "")
    ]
    assert len(categories) == len(set(categories)) == 3
    scans = {
        s["with"]["scan-type"]: s["with"]["severity"]
        for job in jobs.values()
        for s in job["steps"]
        if "trivy-action@" in s.get("uses", "")
    }
    assert scans == {
        "config": "CRITICAL,HIGH,MEDIUM",
        "fs": "CRITICAL,HIGH",
        "image": "CRITICAL,HIGH",
    }


def _write_workflows(files: Mapping[str, bytes], root: Path) -> list[str]:
    for path in WORKFLOWS.values():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(files[path])
    return sorted(WORKFLOWS.values())


@pytest.mark.parametrize("changes", [{}, {"repository.url": "ssh://git@github.com/a/b"}])
def test_github_workflow_schema(render_ci: Render, tmp_path: Path, changes: dict[str, Any]) -> None:
    # check-jsonschema ships SchemaStore's github-workflow schema, so this runs offline.
    pytest.importorskip("check_jsonschema", reason="check-jsonschema is not installed")
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
         *_write_workflows(render_ci(changes), tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint(render_ci: Render, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            tool("actionlint"),
            f"-shellcheck={tool('shellcheck')}",
            "-pyflakes=",
            *_write_workflows(render_ci({}), tmp_path),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_helm_renders_every_helmrelease_on_every_pull_request(
    workflows: dict[str, str],
) -> None:
    workflow = yaml.safe_load(workflows[WORKFLOWS["validate"]])
    assert "pull_request" in _on(workflow)
    job = workflow["jobs"]["flate"]
    # On unless the repository opts out: an unset variable is '' in expressions.
    assert job["if"] == "${{ vars.FLATE != 'false' }}"
    steps = {s["name"]: s for s in job["steps"]}
    assert steps["Install flate"]["uses"].startswith("home-operations/flate/action@")
    test = steps["Build every Kustomization and HelmRelease"]["run"]
    # Every Kustomization and HelmRelease reachable from the root Flux reads.
    assert "flate test all --path ./kubernetes/flux/cluster" in test
    assert "set -o pipefail" in test  # the tee must not hide a failure
