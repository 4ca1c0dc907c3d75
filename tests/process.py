"""clustergen in a child process, as CI runs it (no TTY, stdin closed, CI=true), or the same
call in this process where the process boundary is not what a test is about."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

# The age key sources and the sops override a developer's shell (or the Taskfile) may set:
# a test's clustergen must find the workdir's own age.key and the real sops.
KEY_VARIABLES = ("SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_RECIPIENTS", "CLUSTERGEN_SOPS")


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment now (so the session's private cache and temporary
    directory, tests/conftest.py), without KEY_VARIABLES, plus `extra`. Built per call:
    a copy taken at import time would predate the session fixtures."""
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARIABLES}
    return {**env, **extra}


def run_clustergen(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """`python -m generator *argv` with `env` (default: this process's) and CI=true.
    Never raises on a non-zero exit: callers assert on the result."""
    environment = {**(os.environ if env is None else env), "CI": "true"}
    return subprocess.run(
        [sys.executable, "-m", "generator", *argv],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=environment,
        timeout=timeout,
        check=False,
    )


def clustergen_in_process(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`generator.cli.main(argv)` in this process, as `run_clustergen` runs it in a child:
    in `cwd`, with exactly `env` (default: this process's) and CI=true, stdout and stderr
    captured, stdin not a terminal (pytest's). Saves the ~0.15 s CPU of starting Python and
    importing the generator; everything after `main` is the same code. Environment and
    working directory are restored afterwards."""
    from generator.cli import main

    environment = {**(os.environ if env is None else env), "CI": "true"}
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name not in environment:
                patch.delenv(name)
        for name, value in environment.items():
            patch.setenv(name, value)
        if cwd is not None:
            patch.chdir(cwd)
        with redirect_stdout(out), redirect_stderr(err):
            code = main(list(argv))
    return subprocess.CompletedProcess(["clustergen", *argv], code, out.getvalue(), err.getvalue())


def first_case(request: pytest.FixtureRequest) -> bool:
    """Whether the running test is the first case of its parametrized test (or not
    parametrized): the case that runs clustergen as a child process, where the others,
    which vary only the input, call `clustergen_in_process`."""
    callspec = getattr(request.node, "callspec", None)
    return callspec is None or all(index == 0 for index in callspec.indices.values())


# git as a user runs it, but never reading this machine's git config (hooks, signing).
_GIT = ("git", "-c", "user.name=clustergen test", "-c", "user.email=test@example.com",
        "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main")  # fmt: skip


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`git *args` in `repo` as a test's committer, output captured; with `check`, a
    failure fails the test with git's stderr."""
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    result = subprocess.run(
        [*_GIT, *args], cwd=repo, env=env, capture_output=True, text=True, check=False
    )
    if check:
        assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
    return result
