"""`pre-commit run --all-files` in a freshly rendered clone, with the real hooks.

A clone is this repository's files (tracked and new, as `git ls-files` lists them) with
`clustergen init` + `configure` run in it and everything committed, as a user's first
commit. pre-commit installs every hook of the rendered `.pre-commit-config.yaml` from PyPI
into its own cache (~/.cache/pre-commit, or $PRE_COMMIT_HOME; the suite uses the user's, see
tests/conftest.py), so the first run needs PyPI. pre-commit-uv (a dev dependency)
makes those installs with uv, from uv's cache when `uv sync` fetched the same versions.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.process import clean_env, clustergen_in_process, git

ROOT = Path(__file__).resolve().parents[2]
PRE_COMMIT = Path(sys.executable).parent / "pre-commit"
HOOKS = ("refuse unencrypted", "yamllint", "shellcheck", "actionlint", ".renovaterc.json5")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("git") is None, reason="needs git"),
]


def _pre_commit(repo: Path, *files: str) -> subprocess.CompletedProcess[str]:
    """`pre-commit run` on `files`, or with --all-files when none are given."""
    if not PRE_COMMIT.is_file():
        pytest.fail("pre-commit is not installed; `uv sync` installs it (dev dependency group)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT_"))}
    if "PRE_COMMIT_HOME" in os.environ:
        env["PRE_COMMIT_HOME"] = os.environ["PRE_COMMIT_HOME"]
    # pre-commit installs each local hook as a stub package (its own setup.py) plus the
    # hook's pinned wheels. Built without isolation, uv builds the stub with the setuptools
    # `uv venv --seed` put into the hook's environment instead of making a build
    # environment for each of the four hooks (~0.9 s CPU of the run); the hooks' wheels
    # come from PyPI (or uv's cache) as for any user.
    env["UV_NO_BUILD_ISOLATION"] = "1"
    selection = ("--files", *files) if files else ("--all-files",)
    return subprocess.run(
        [str(PRE_COMMIT), "run", *selection, "--color", "never"],
        cwd=repo,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("clone")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (p.decode() for p in listed)):
        if (ROOT / name).is_file():  # a tracked file deleted in the work tree is skipped
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    # In this process: the pre-commit run is what is tested here, and clustergen's own
    # process boundary is tested by tests/test_cli.py and the pipeline's CLI tests.
    env = clean_env()
    assert clustergen_in_process(["init"], cwd=repo, env=env).returncode == 0
    configured = clustergen_in_process(["configure", "--no-validate"], cwd=repo, env=env)
    assert configured.returncode == 0, configured.stderr
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first render")
    return repo


def test_every_hook_runs_and_passes(clone: Path) -> None:
    # The clone holds the generator's fixtures (plaintext *.sops.* files, YAML broken on
    # purpose, rendered copies of kubernetes/): the hooks' scope leaves them out.
    assert (clone / "tests").is_dir() and (clone / "kubernetes").is_dir()
    result = _pre_commit(clone)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for hook in HOOKS:
        (line,) = [x for x in lines if x.startswith(hook)]
        assert line.endswith("Passed"), line


def test_hooks_still_judge_the_cluster(clone: Path) -> None:
    # The same findings under tests/ pass; in the cluster they fail, each named.
    bad_yaml = "a: {b:  c}\n"
    plain_secret = "---\nstringData:\n  token: hunter2\n"
    files = {
        "kubernetes/apps/default/bad.yaml": bad_yaml,
        "kubernetes/apps/default/leak.sops.yaml": plain_secret,
        "tests/fixtures/more/bad.yaml": bad_yaml,
        "tests/fixtures/more/leak.sops.yaml": plain_secret,
    }
    for name, text in files.items():
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        (clone / name).write_text(text)
    git(clone, "add", *files)
    try:
        # Only the new files: the whole clone passing is the test above; the hooks'
        # scope (`exclude`, `files`, `types`) applies to named files just the same.
        result = _pre_commit(clone, *files)
    finally:
        git(clone, "reset", "-q", "--hard")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "kubernetes/apps/default/bad.yaml" in output
    assert "kubernetes/apps/default/leak.sops.yaml: not encrypted" in output
    assert "tests/fixtures/more" not in output
