"""What every day-two command starts from: the cluster's files, its nodes and versions,
and the executor; notes (an overridden variable, a pin not yet rendered) go to progress."""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from generator import paths
from generator.lifecycle import preflight
from generator.lifecycle.environment import ClusterFiles, cluster_files
from generator.lifecycle.inventory import TALENV, Inventory, read_inventory
from generator.lifecycle.provenance import Provenance, check_rendered
from generator.lifecycle.steps import Executor, Progress


@dataclass(frozen=True)
class Uses:
    """What a command acts on from talos/. `files`: repository-relative paths, or folders
    ending in "/", that must be what configure wrote (provenance.py); `pins`: the
    talenv.yaml versions it uses ("talos", "kubernetes"), each noted when it is not
    templates/versions.yaml's."""

    files: tuple[str, ...] = ()
    pins: tuple[str, ...] = ()

    def reads(self, path: str) -> bool:
        return any(path == f or (f.endswith("/") and path.startswith(f)) for f in self.files)


def start(
    workdir: Path, uses: Uses, *, dry_run: bool, progress: Progress
) -> tuple[Inventory, Executor]:
    """The inventory of `workdir` and an executor for it (ClusterGenError when the rendered
    talos/ files are missing, stale, or differ from what configure wrote)."""
    files = cluster_files(workdir)
    # A command that acts on no talos/ file (reconcile) does not even need the manifest.
    provenance = check_rendered(workdir, uses.reads) if uses.files else Provenance()
    # A talenv.yaml the user took over or overrode pins what they chose: nothing to note.
    pins = () if TALENV in provenance.intended else uses.pins
    inventory = read_inventory(workdir, pins=pins)
    for note in (*files.notes, *provenance.notes, *inventory.notes):
        progress(note)
    return inventory, Executor(files, dry_run=dry_run, progress=progress)


def require(
    inventory: Inventory,
    executor: Executor,
    *,
    tools: Sequence[str],
    needs: Sequence[str] = (),
    more: Sequence[preflight.Needed] = (),
) -> None:
    """Before a command runs anything: `tools` on PATH, the files named in `needs`
    ("talosconfig", "kubeconfig") and `more` present; every one missing named at once.
    Nothing under dry-run, which runs nothing, so needs nothing but the rendered files."""
    if executor.dry_run:
        return
    files = executor.files
    wanted = [_needed(files, inventory, name) for name in needs]
    preflight.check(tools, [*wanted, *more])


def _needed(files: ClusterFiles, inventory: Inventory, name: str) -> preflight.Needed:
    if name == "talosconfig":
        shown = files.shown(files.talosconfig)
        how = _from_env(files, "TALOSCONFIG") or "`uv run task talos:generate-config` writes it"
        return preflight.Needed(files.talosconfig, f"{shown} (TALOSCONFIG)", how)
    shown = files.shown(files.kubeconfig)
    if os.pathsep in str(files.kubeconfig):  # a list kubectl merges: one file is enough
        parts = [Path(p) for p in str(files.kubeconfig).split(os.pathsep) if p]
        there = next((p for p in parts if p.exists()), files.kubeconfig)
        how = _from_env(files, "KUBECONFIG") or ""
        return preflight.Needed(there, f"every file of {shown} (KUBECONFIG)", how)
    if how := _from_env(files, "KUBECONFIG"):
        return preflight.Needed(files.kubeconfig, f"{shown} (KUBECONFIG)", how)
    fetch = shlex.join([
        "talosctl", "kubeconfig", "--talosconfig", files.shown(files.talosconfig),
        "--nodes", inventory.controllers[0].address, shown,
    ])  # fmt: skip
    return preflight.Needed(files.kubeconfig, f"{shown} (KUBECONFIG)", f"`{fetch}` fetches it")


def _from_env(files: ClusterFiles, variable: str) -> str:
    """How to fix a file the environment chose ("" when it is the repository's own): the
    generating command writes the repository's file, not that one."""
    own = files.workdir / paths.CLUSTER_ENV[variable]
    if files.env[variable] == str(own):
        return ""
    return (
        f"{variable} is set in your environment; point it at an existing file, or unset it "
        f"to use ./{paths.CLUSTER_ENV[variable]}"
    )
