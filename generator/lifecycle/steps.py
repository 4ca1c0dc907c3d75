"""The commands a day-two command runs, and the one place that runs (or only lists) them.

A `Step` is one program with its arguments, run in the repository (the command lines name
files relative to it) with the cluster's KUBECONFIG, TALOSCONFIG and SOPS_AGE_KEY_FILE.
Under `--dry-run` the `Executor` records each line and runs nothing; otherwise it shows
each line before running it.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from generator.command import run
from generator.lifecycle.environment import ClusterFiles

Progress = Callable[[str], None]
# talosctl waits for nodes; one call may take minutes. A step's own limit is longer.
DEFAULT_TIMEOUT = 120.0


def quiet(line: str) -> None:
    """The default `progress`: callers that show nothing (tests)."""


@dataclass(frozen=True)
class Step:
    """`argv`: the program and its arguments. `timeout`: seconds before it is stopped.
    `probe`: a check whose exit status the caller reads (a failure is an answer, not an
    error)."""

    argv: tuple[str, ...]
    timeout: float = DEFAULT_TIMEOUT
    probe: bool = False

    @property
    def line(self) -> str:
        """The command as a shell would run it (each argument shell-quoted)."""
        return shlex.join(self.argv)


class Executor:
    """Runs steps for one command, or under `dry_run` lists them (`lines`)."""

    def __init__(self, files: ClusterFiles, *, dry_run: bool, progress: Progress = quiet) -> None:
        self.files = files
        self.dry_run = dry_run
        self.progress = progress
        self.lines: list[str] = []

    def run(self, step: Step) -> subprocess.CompletedProcess[bytes] | None:
        """The finished process (None under dry_run). CommandError when it fails, unless
        `step.probe`."""
        self.lines.append(step.line)
        if self.dry_run:
            return None
        self.progress(f"$ {step.line}")
        return run(
            step.argv,
            cwd=self.files.workdir,
            env=dict(self.files.env),
            timeout=step.timeout,
            ok_codes=range(256) if step.probe else (0,),
        )

    def talosctl(self, command: str, *args: str) -> tuple[str, ...]:
        """`talosctl COMMAND --talosconfig … ARGS` (the flag after the command, as
        talhelper gencommand writes it; COMMAND may be two words: "etcd members")."""
        return (
            "talosctl",
            *command.split(),
            "--talosconfig",
            self.files.shown(self.files.talosconfig),
            *args,
        )

    def kubectl(self, *args: str) -> tuple[str, ...]:
        return ("kubectl", *args, "--kubeconfig", self.files.shown(self.files.kubeconfig))
