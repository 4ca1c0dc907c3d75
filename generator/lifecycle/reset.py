"""`talos reset [NODE]`: wipe a node's STATE and EPHEMERAL partitions and reboot it into
maintenance mode (every node without NODE: workers first). Destructive, so confirmed by
typing the node's name back (`all` for every node); where nobody can type (no terminal,
or CI set) only `--yes` confirms.

One node of a cluster that keeps running resets gracefully (cordoned, drained, leaves
etcd); the whole cluster, or its only controller, does not (nothing is left to hand over
to), as upstream's reset of every node (onedr0p/cluster-template .taskfiles/talos).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from generator.errors import ClusterGenError
from generator.lifecycle import TOOLS
from generator.lifecycle.inventory import TALCONFIG, Node
from generator.lifecycle.session import Uses, require, start
from generator.lifecycle.steps import Progress, Step, quiet
from generator.report import Report

Ask = Callable[[str], str]
ALL = "all"
_WIPE = ("--system-labels-to-wipe", "STATE", "--system-labels-to-wipe", "EPHEMERAL")
_RESET_TIMEOUT = 600.0
_RESET = Uses(files=(TALCONFIG,))  # the nodes' addresses


def reset(
    workdir: Path,
    name: str | None,
    *,
    yes: bool = False,
    ask: Ask | None = None,
    dry_run: bool = False,
    progress: Progress = quiet,
) -> Report:
    """Reset node `name` (None: every node). Unless `yes` or `dry_run`, `ask(prompt)` must
    return the node's name (or ALL); `ask` None means nobody can answer: ClusterGenError
    asking for --yes. Nothing runs before the confirmation."""
    inventory, executor = start(workdir, _RESET, dry_run=dry_run, progress=progress)
    nodes = [inventory.node(name)] if name is not None else list(inventory.upgrade_order())
    expected = name if name is not None else ALL
    require(inventory, executor, tools=TOOLS["reset"], needs=["talosconfig"])
    if not (yes or dry_run):
        _confirm(nodes, expected, ask)
    whole = name is None or (nodes[0].controller and len(inventory.controllers) == 1)
    for node in nodes:
        argv = executor.talosctl(
            "reset", "--nodes", node.address, f"--graceful={str(not whole).lower()}",
            "--reboot", *_WIPE, *(["--wait=false"] if whole else []),
        )  # fmt: skip
        executor.run(Step(argv, timeout=_RESET_TIMEOUT))
    if dry_run:
        return Report.of(executor.lines)
    lines = [f"reset {node.name} ({node.address}): rebooting into maintenance mode"
             for node in nodes]  # fmt: skip
    # In maintenance mode a node takes its config only over --insecure; with no cluster
    # left (every node, or its only controller), the bootstrap applies it that way.
    if whole:
        lines.append("to rebuild the cluster: uv run task bootstrap:talos")
    else:
        lines.append(
            f"to bring it back: uv run task talos:apply-node NODE={nodes[0].name} -- --insecure"
        )
    return Report.of(lines)


def _confirm(nodes: list[Node], expected: str, ask: Ask | None) -> None:
    names = ", ".join(f"{node.name} ({node.address})" for node in nodes)
    if ask is None:
        raise ClusterGenError(
            f"reset wipes {names}, and there is no terminal to confirm it on (or CI is "
            "set): rerun with --yes to confirm"
        )
    answer = ask(
        f"This wipes STATE and EPHEMERAL of {names} and reboots into maintenance mode.\n"
        f"Type {expected} to confirm: "
    ).strip()
    if answer != expected:
        raise ClusterGenError(
            f"not confirmed (typed '{answer}', not '{expected}'): nothing was reset"
        )
