"""`talos generate-config` (talhelper writes every node's machine config and the
talosconfig) and `talos apply-node NODE` (talosctl applies one node's).

The command lines are talhelper's own (budimanjojo/talhelper v3.1.16: genconfig's
flags in cmd/genconfig.go; the apply line of GenerateApplyCommand), run from the
repository root: talhelper resolves talconfig.yaml's `@./patches/…` relative to the
config file (pkg/substitute/pathsubst.go).
"""

from __future__ import annotations

from pathlib import Path

from generator import paths
from generator.errors import ClusterGenError
from generator.lifecycle import MAINTENANCE_MODES, TOOLS, preflight
from generator.lifecycle.inventory import CLUSTERCONFIG, TALCONFIG, TALENV
from generator.lifecycle.session import Uses, require, start
from generator.lifecycle.steps import Progress, Step, quiet
from generator.report import Report

SECRET = f"{paths.TALOS_DIR}/talsecret.sops.yaml"
# talhelper genconfig reads both files and the patches talconfig.yaml names; apply-node
# needs only the node's address (its config was generated from the others).
_GENERATE = Uses(files=(TALCONFIG, TALENV, f"{paths.TALOS_DIR}/patches/"),
                 pins=("talos", "kubernetes"))  # fmt: skip
_APPLY = Uses(files=(TALCONFIG,))
_TALOSCTL_TIMEOUT = 300.0


def generate_config(workdir: Path, *, dry_run: bool = False, progress: Progress = quiet) -> Report:
    """talos/clusterconfig/: one machine config per node and the talosconfig, from the
    rendered talconfig.yaml, talenv.yaml and the encrypted talsecret.sops.yaml
    (decrypted by talhelper with SOPS_AGE_KEY_FILE)."""
    inventory, executor = start(workdir, _GENERATE, dry_run=dry_run, progress=progress)
    files = executor.files
    require(inventory, executor, tools=TOOLS["generate-config"], more=[
        preflight.Needed(workdir / SECRET, SECRET,
                         "`uv run task talos-secret` makes it (once: it is the cluster's PKI)"),
        preflight.Needed(files.age_key, f"{files.shown(files.age_key)} (SOPS_AGE_KEY_FILE)",
                         f"put back the age key you saved: talhelper decrypts {SECRET} with it"),
    ])  # fmt: skip
    argv = (
        "talhelper", "genconfig",
        "--config-file", TALCONFIG,
        "--secret-file", SECRET,
        "--env-file", TALENV,
        "--out-dir", CLUSTERCONFIG,
    )  # fmt: skip
    executor.run(Step(argv, timeout=_TALOSCTL_TIMEOUT))
    if dry_run:
        return Report.of(executor.lines)
    return Report(
        f"generated {CLUSTERCONFIG}: {len(inventory.nodes)} node config(s) and talosconfig"
    )


def apply_node(
    workdir: Path, name: str, *, mode: str = "auto", insecure: bool = False,
    dry_run: bool = False, progress: Progress = quiet,
) -> Report:  # fmt: skip
    """Apply node `name`'s generated machine config (`mode`: one of APPLY_MODES).

    `insecure`: the node is in maintenance mode (booted from the ISO, or after a reset), so
    it has no certificates yet and only takes `talosctl apply-config --insecure`, without
    the talosconfig; it accepts only MAINTENANCE_MODES there (Talos
    internal/app/maintenance/server.go, ApplyConfiguration). ClusterGenError for another
    mode."""
    if insecure and mode not in MAINTENANCE_MODES:
        raise ClusterGenError(
            f"--mode {mode} is not accepted in maintenance mode (--insecure); use one of "
            f"{', '.join(MAINTENANCE_MODES)}, or leave --mode out"
        )
    inventory, executor = start(workdir, _APPLY, dry_run=dry_run, progress=progress)
    node = inventory.node(name)
    generated = preflight.Needed(
        workdir / node.config_file,
        node.config_file,
        "`uv run task talos:generate-config` writes it",
    )
    needs = [] if insecure else ["talosconfig"]
    require(inventory, executor, tools=TOOLS["apply-node"], needs=needs, more=[generated])
    where = ("--nodes", node.address, "--file", node.config_file, "--mode", mode)
    if insecure:
        argv: tuple[str, ...] = ("talosctl", "apply-config", "--insecure", *where)
    else:
        argv = executor.talosctl("apply-config", *where)
    executor.run(Step(argv, timeout=_TALOSCTL_TIMEOUT))
    if dry_run:
        return Report.of(executor.lines)
    how = f"mode {mode}, maintenance mode" if insecure else f"mode {mode}"
    return Report(f"applied {node.config_file} to {node.name} ({node.address}, {how})")
