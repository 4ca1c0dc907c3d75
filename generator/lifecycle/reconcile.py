"""`reconcile`: make Flux fetch the Git repository now and apply it, instead of at its
next interval: the Kustomization `flux-system` in flux-system (the FluxInstance's sync,
templates/config/kubernetes/apps/flux-system) with its source, as upstream's
`task reconcile` (onedr0p/cluster-template Taskfile.yaml)."""

from __future__ import annotations

from pathlib import Path

from generator.lifecycle import TOOLS
from generator.lifecycle.session import Uses, require, start
from generator.lifecycle.steps import Progress, Step, quiet
from generator.report import Report

_FLUX_TIMEOUT = 360.0  # flux waits up to its own --timeout (5m) for the result


def reconcile(workdir: Path, *, dry_run: bool = False, progress: Progress = quiet) -> Report:
    """Run `flux reconcile kustomization flux-system --with-source`; its output is the
    report."""
    # Flux applies kubernetes/: nothing of talos/ is acted on (the inventory names only the
    # controller a missing kubeconfig is fetched from).
    inventory, executor = start(workdir, Uses(), dry_run=dry_run, progress=progress)
    require(inventory, executor, tools=TOOLS["reconcile"], needs=["kubeconfig"])
    files = executor.files
    argv = (
        "flux", "reconcile", "kustomization", "flux-system",
        "--namespace", "flux-system", "--with-source",
        "--kubeconfig", files.shown(files.kubeconfig),
    )  # fmt: skip
    result = executor.run(Step(argv, timeout=_FLUX_TIMEOUT))
    if result is None:
        return Report.of(executor.lines)
    output = (result.stdout + result.stderr).decode(errors="replace").strip()
    return Report(output or "reconciled flux-system")
