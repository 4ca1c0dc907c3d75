"""Day two: operate the cluster the rendered repository describes.

`clustergen talos generate-config|apply-node|upgrade-node|upgrade-k8s|reset` and
`clustergen reconcile`. Each takes node names from cluster.yaml, resolves addresses,
installer images and versions from the rendered `talos/` folder (`inventory`), checks its
tools and files first (`preflight`), and runs talhelper, talosctl, kubectl or flux through
`steps.Executor`, which under `--dry-run` only lists the command lines. Day zero (the
Talos secret and the bootstrap) is generator/talos.py.
"""

# `talosctl apply-config --mode` (https://www.talos.dev/latest/reference/cli/#talosctl-apply-config).
APPLY_MODES = ("auto", "reboot", "no-reboot", "staged", "try")
# The modes a node in maintenance mode accepts (`apply-config --insecure`; Talos
# internal/app/maintenance/server.go, ApplyConfiguration).
MAINTENANCE_MODES = ("auto", "reboot", "try")
# The programs each day-two command checks for before it starts (preflight), and so what
# `clustergen doctor --step operate` asks for.
TOOLS: dict[str, tuple[str, ...]] = {
    "generate-config": ("talhelper",),
    "apply-node": ("talosctl",),
    "upgrade-node": ("talosctl", "kubectl"),
    "upgrade-k8s": ("talosctl", "kubectl"),
    "reset": ("talosctl",),
    "reconcile": ("flux",),
}
# Seconds `talosctl upgrade` may take to install and reboot, and then the node to be Ready.
NODE_TIMEOUT = 600
