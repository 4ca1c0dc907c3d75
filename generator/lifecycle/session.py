"""What every day-two command starts from: the cluster's files, its nodes and versions,
and the executor; notes (an overridden variable, a pin not yet rendered) go to progress."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from generator.lifecycle import preflight
from generator.lifecycle.environment import ClusterFiles, cluster_files
from generator.lifecycle.inventory import Inventory, read_inventory
from generator.lifecycle.steps import Executor, Progress


def start(
    workdir: Path,
    *,
    tools: Sequence[str],
    needs: Sequence[str] = (),
    dry_run: bool,
    progress: Progress,
) -> tuple[Inventory, Executor]:
    """The inventory of `workdir` and an executor for it. Unless `dry_run` (which runs
    nothing, so needs nothing but the rendered files), `tools` must be on PATH and the
    files named in `needs` ("talosconfig", "kubeconfig") must exist."""
    files = cluster_files(workdir)
    inventory = read_inventory(workdir)
    for note in (*files.notes, *inventory.notes):
        progress(note)
    if not dry_run:
        preflight.check(tools, [_needed(files, name) for name in needs])
    return inventory, Executor(files, dry_run=dry_run, progress=progress)


def _needed(files: ClusterFiles, name: str) -> preflight.Needed:
    if name == "talosconfig":
        return preflight.talosconfig(files.talosconfig, files.shown(files.talosconfig))
    return preflight.kubeconfig(files.kubeconfig, files.shown(files.kubeconfig))
