"""Which kubeconfig, talosconfig and age key the day-two commands use.

The repository's own files (generator/paths.py `CLUSTER_ENV`, the same the Taskfile's
`env:` block and the rendered `.mise.toml` set), unless the variable is set in the
environment: then that file, and a note says so (it may be another cluster's).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from generator import paths


@dataclass(frozen=True)
class ClusterFiles:
    """`kubeconfig`, `talosconfig`, `age_key`: absolute paths. `env`: the three variables,
    passed to every tool run. `notes`: one line per variable taken from the environment."""

    workdir: Path
    kubeconfig: Path
    talosconfig: Path
    age_key: Path
    env: Mapping[str, str]
    notes: tuple[str, ...]

    def shown(self, path: Path) -> str:
        """`path` as the printed commands name it: relative to the repository when inside
        it (the commands run there), else absolute."""
        try:
            return path.relative_to(self.workdir).as_posix()
        except ValueError:
            return str(path)


def cluster_files(workdir: Path, environ: Mapping[str, str] = os.environ) -> ClusterFiles:
    """The three files for the repository at `workdir`; `environ` overrides each."""
    root = workdir.resolve()
    chosen: dict[str, Path] = {}
    notes: list[str] = []
    for variable, relative in paths.CLUSTER_ENV.items():
        own = root / relative
        given = environ.get(variable)
        if not given:
            path = own
        elif os.pathsep in given:  # a KUBECONFIG list: kubectl merges it, we pass it on
            path = Path(given)
        else:
            path = (root / given).resolve()
        if path != own:
            notes.append(f"note: {variable}={given} is set: using it instead of ./{relative}")
        chosen[variable] = path
    return ClusterFiles(
        workdir=root,
        kubeconfig=chosen["KUBECONFIG"],
        talosconfig=chosen["TALOSCONFIG"],
        age_key=chosen["SOPS_AGE_KEY_FILE"],
        env={variable: str(path) for variable, path in chosen.items()},
        notes=tuple(notes),
    )
