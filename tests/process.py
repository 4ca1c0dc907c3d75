"""clustergen in a child process, as CI runs it: no TTY, stdin closed, CI=true."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path


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
