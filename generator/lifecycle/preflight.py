"""Check a command's tools and files before it runs anything; name each missing one and
how to get it, all at once."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from generator.errors import ClusterGenError

# Where each tool's install instructions are (its project's own page).
INSTALL = {
    "talosctl": "https://www.talos.dev/latest/talos-guides/install/talosctl/",
    "talhelper": "https://budimanjojo.github.io/talhelper/latest/installation/",
    "kubectl": "https://kubernetes.io/docs/tasks/tools/",
    "flux": "https://fluxcd.io/flux/installation/#install-the-flux-cli",
}


@dataclass(frozen=True)
class Needed:
    """A file a command reads: `path`, what it is (`shown` as the user knows it) and how
    to get it when it is missing."""

    path: Path
    shown: str
    how: str


def check(tools: Sequence[str], files: Sequence[Needed]) -> None:
    """ClusterGenError listing every tool not on PATH and every file that is missing."""
    missing = [
        f"- {tool} is not on PATH: install it ({INSTALL[tool]})"
        for tool in tools
        if shutil.which(tool) is None
    ]
    missing += [
        f"- {need.shown} is missing: {need.how}" for need in files if not need.path.exists()
    ]
    if missing:
        raise ClusterGenError("cannot start; missing:\n" + "\n".join(missing))
