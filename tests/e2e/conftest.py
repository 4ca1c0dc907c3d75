"""The e2e workflow's files (.github/workflows/e2e.yaml, .github/e2e/) and stub tools.

The workflow itself needs a runner with KVM, a container registry and the Talos Image
Factory; here its script runs against stub talosctl/kubectl/flux/uv/docker executables
that record their arguments, one line per call, in $STUB_LOG.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
E2E_DIR = REPO / ".github" / "e2e"
SCRIPT = E2E_DIR / "e2e.sh"
WORKFLOW = REPO / ".github" / "workflows" / "e2e.yaml"

# A stub: records `name args...`, prints $STUB_<NAME>_OUT (if set), exits $STUB_<NAME>_RC.
STUB = """#!/usr/bin/env bash
name="$(basename "$0")"
printf '%s %s\\n' "$name" "$*" >> "$STUB_LOG"
var="STUB_$(printf '%s' "$name" | tr '[:lower:]-' '[:upper:]_')"
out="${var}_OUT"; rc="${var}_RC"
if [ -n "${!out:-}" ]; then printf '%s\\n' "${!out}"; fi
exit "${!rc:-0}"
"""
# talosctl in maintenance mode: one link and one disk per node, as `get ... -o json` prints
# them (one JSON document per resource).
TALOSCTL = """#!/usr/bin/env bash
printf 'talosctl %s\\n' "$*" >> "$STUB_LOG"
all="$*"; ip="${all#*--nodes }"; ip="${ip%% *}"
case "$*" in
  *"get links"*)
    echo '{"metadata": {"id": "lo"},
           "spec": {"type": "loopback", "operationalState": "unknown"}}'
    echo '{"metadata": {"id": "enp0s2"},
           "spec": {"type": "ether", "operationalState": "up",
                    "hardwareAddr": "AA:BB:CC:00:00:0'"${ip##*.}"'"}}'
    ;;
  *"get disks"*)
    echo '{"metadata": {"id": "loop0"}, "spec": {"readonly": true}}'
    echo '{"metadata": {"id": "sr0"}, "spec": {"readonly": true}}'
    echo '{"metadata": {"id": "vda"}, "spec": {"readonly": false}}'
    ;;
  *) exit "${STUB_TALOSCTL_RC:-0}" ;;
esac
"""
# uv: records every call; `uv run --frozen python ...` runs the real interpreter.
UV = """#!/usr/bin/env bash
printf 'uv %s\\n' "$*" >> "$STUB_LOG"
if [ "$1 $2 $3" = "run --frozen python" ]; then shift 3; exec "$REAL_PYTHON" "$@"; fi
exit "${STUB_UV_RC:-0}"
"""


@dataclass(frozen=True)
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    calls: list[str]  # one `tool args...` line per stub call, in order
    work: Path  # the directory it ran in


Run = Callable[..., Outcome]


@pytest.fixture
def e2e(tmp_path: Path) -> Run:
    """Runs e2e.sh from a fresh checkout-like directory (its .github is the repository's)
    with the stubs first on PATH."""
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name in ("kubectl", "flux", "docker", "sudo"):
        (stubs / name).write_text(STUB)
    (stubs / "talosctl").write_text(TALOSCTL)
    (stubs / "uv").write_text(UV)
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    (work / ".github").symlink_to(REPO / ".github")
    log = tmp_path / "calls.log"

    def run(*args: str, env: Mapping[str, str] | None = None) -> Outcome:
        log.write_text("")
        environment = {
            "PATH": f"{stubs}{os.pathsep}{os.environ['PATH']}",
            "HOME": str(tmp_path),
            "STUB_LOG": str(log),
            "REAL_PYTHON": sys.executable,
            "E2E_STATE": str(tmp_path / "state"),
            "E2E_CONTROLPLANE_IPS": "10.9.0.2",
            "E2E_WORKER_IPS": "10.9.0.3",
            "E2E_GATEWAY": "10.9.0.1",
            "E2E_CIDR": "10.9.0.0/24",
            **(env or {}),
        }
        result = subprocess.run(
            ["bash", str(SCRIPT), *args],
            cwd=work,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        calls = log.read_text().splitlines()
        return Outcome(result.returncode, result.stdout, result.stderr, calls, work)

    return run
