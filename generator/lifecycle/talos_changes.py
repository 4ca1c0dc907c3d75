"""What a configure run's change to `talos/` asks of a running cluster.

Flux applies `kubernetes/` by itself; nothing applies `talos/` (talconfig.yaml, talenv.yaml,
patches) to the nodes but the day-two commands. So configure says so whenever it changes a
file there, and warns about the one change those commands cannot carry: the pod and
service networks of a bootstrapped cluster (Talos machine config `cluster.network`,
rendered from kubernetes.pod_cidr and kubernetes.service_cidr into talconfig.yaml's
clusterPodNets / clusterSvcNets). Kubernetes handed out addresses from them at the
bootstrap (each node's spec.podCIDR, every Service's ClusterIP, the `kubernetes` Service),
and nothing moves those, while Flux switches Cilium's ipv4NativeRoutingCIDR
(templates/config/kubernetes/apps/kube-system/cilium) to the new pod network at once: pod
networking breaks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml

from generator import bounded_yaml, paths
from generator.config.loader import load_yaml
from generator.config.locate import Locator
from generator.errors import ClusterGenError, Problem

TALCONFIG = f"{paths.TALOS_DIR}/talconfig.yaml"
# The Talos PKI, made once by `task talos-secret` or the bootstrap: a cluster exists (or is
# being made) once it is there. Before it, a network may still change freely.
TALSECRET = f"{paths.TALOS_DIR}/talsecret.sops.yaml"
# talconfig.yaml key → the cluster.yaml key it is rendered from.
NETWORKS = {"clusterPodNets": ("kubernetes", "pod_cidr"),
            "clusterSvcNets": ("kubernetes", "service_cidr")}  # fmt: skip
TALENV = f"{paths.TALOS_DIR}/talenv.yaml"
NEXT_STEP = (
    f"{paths.TALOS_DIR}/ changed: apply it node by node: uv run task talos:generate-config, "
    "then uv run task talos:apply-node NODE=… for each node (docs/nodes.md, docs/upgrades.md)"
)
# talenv.yaml holds the Talos and Kubernetes versions: an apply only records the new
# installer in the machine config; the upgrade commands install them.
UPGRADE_STEP = (
    f"{TALENV} changed: upgrade what changed: uv run task talos:upgrade-nodes for "
    "talosVersion, uv run task talos:upgrade-k8s for kubernetesVersion (docs/upgrades.md)"
)


def next_step(created: Iterable[str], changed: Iterable[str]) -> list[str]:
    """The next steps after a write (paths relative to the repository): UPGRADE_STEP when
    talenv.yaml changed, NEXT_STEP when another file under talos/ did (updated, merged,
    removed, or created beside a talconfig.yaml that was already there); none on the first
    render, whose next step is the bootstrap."""
    new = [p for p in created if p.startswith(f"{paths.TALOS_DIR}/")]
    touched = [p for p in changed if p.startswith(f"{paths.TALOS_DIR}/")]
    if TALCONFIG in new:
        return []
    steps = [NEXT_STEP] if [p for p in [*new, *touched] if p != TALENV] else []
    return [*steps, UPGRADE_STEP] if TALENV in touched else steps


def fixed_networks(workdir: Path, rendered: Mapping[str, bytes], config: Path) -> list[Problem]:
    """A warning (at the key in `config`, cluster.yaml) for each network the new render of
    talconfig.yaml changes from the one on disk, once the cluster's Talos secret exists.
    Nothing when either talconfig.yaml is missing or unreadable (validation judges it)."""
    on_disk = workdir / TALCONFIG
    if not (workdir / TALSECRET).is_file() or not on_disk.is_file() or TALCONFIG not in rendered:
        return []
    try:
        old = _networks(on_disk.read_bytes())
    except OSError:
        return []
    new = _networks(rendered[TALCONFIG])
    if old is None or new is None:
        return []
    changed = [key for key in NETWORKS if old.get(key) and new.get(key) and old[key] != new[key]]
    if not changed:
        return []
    try:
        loaded = load_yaml(config)
    except (ClusterGenError, OSError):  # already read once by this run; a line is a nicety
        locator = Locator(config.name, {})
    else:
        locator = Locator(loaded.file, loaded.positions)
    problems = []
    for key in changed:
        was, now = ", ".join(old[key]), ", ".join(new[key])
        problems.append(locator.problem(NETWORKS[key], (
            f"{now} differs from {was} in {TALCONFIG}: a running cluster cannot change it "
            "(its nodes and Services keep their addresses from the old one, while Flux "
            "moves Cilium to the new one at once, and pod networking breaks); put back "
            f"{was}, or rebuild the cluster (uv run task talos:reset, then uv run task "
            "bootstrap:talos)"
        )))  # fmt: skip
    return problems


def _networks(content: bytes) -> dict[str, list[str]] | None:
    try:
        data = bounded_yaml.load(content)
    except yaml.YAMLError:
        return None
    if not isinstance(data, dict):
        return None
    return {key: [str(v) for v in data.get(key) or []] for key in NETWORKS
            if isinstance(data.get(key) or [], list)}  # fmt: skip
