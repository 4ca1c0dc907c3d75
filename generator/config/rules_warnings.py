"""Warnings: configs that are valid and render, but that Talos, etcd, Cilium, Flux or the
monitoring stack document as operationally unsound.

Each rule sees the config with defaults applied and yields (key path, message); the message
says why and what to do instead. `check` and `configure` print them as
`warning: cluster.yaml:LINE:COL key: message` and exit 0 unless `--strict`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from generator.config.locate import KeyPath
from generator.config.urls import BUNDLED_KNOWN_HOSTS, repo_host

Finding = tuple[KeyPath, str]
Rule = Callable[[Mapping[str, Any]], Iterator[Finding]]


def check_warnings(values: Mapping[str, Any]) -> list[Finding]:
    """Every warning of a config the rules accepted (so every key has its type)."""
    rules: tuple[Rule, ...] = (_even_controllers, _single_controller_with_workers, _mtu,
                               _alerts_without_receiver, _webhook_unreachable)  # fmt: skip
    return [finding for rule in rules for finding in rule(values)]


def _controllers(values: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [n for n in values["nodes"] if n["controller"]]


def _even_controllers(values: Mapping[str, Any]) -> Iterator[Finding]:
    """etcd needs a majority of members: an even count tolerates no more failures than one
    fewer, and each extra member is one more that can fail (etcd FAQ, "Why an odd number of
    cluster members?": https://etcd.io/docs/v3.5/faq/#why-an-odd-number-of-cluster-members).
    """
    count = len(_controllers(values))
    if count % 2 == 0:
        tolerated = (count - 1) // 2
        yield (
            ("nodes",),
            (
                f"{count} controllers run {count} etcd members, which tolerate {tolerated} "
                f"failure(s), no more than {count - 1} would; use {count - 1} or {count + 1} "
                "controllers"
            ),
        )


def _single_controller_with_workers(values: Mapping[str, Any]) -> Iterator[Finding]:
    """One control-plane node is a single point of failure for the API and etcd; Talos'
    production notes ask for three ("Control plane nodes" in
    https://talos.dev/latest/introduction/prodnotes). Only said when there are workers: a
    one-node cluster is a deliberate choice."""
    controllers = _controllers(values)
    workers = len(values["nodes"]) - len(controllers)
    if len(controllers) == 1 and workers:
        name = controllers[0]["name"]
        yield (
            ("nodes",),
            (
                f"1 controller with {workers} worker(s): when {name} is down the API and etcd are "
                "too, and workloads cannot be rescheduled; make 3 nodes controllers for HA"
            ),
        )


def _mtu(values: Mapping[str, Any]) -> Iterator[Finding]:
    """Hosts on one network must share its MTU; Cilium takes one MTU for every pod (the
    template uses the smallest node's), so a larger MTU on some nodes is never used by pods
    and frames above the smallest are dropped between nodes
    (https://docs.cilium.io/en/stable/network/concepts/routing/, native routing:
    native routing sends pod packets over the node network as they are)."""
    nodes = values["nodes"]
    smallest = min(n["mtu"] for n in nodes)
    first = next(i for i, n in enumerate(nodes) if n["mtu"] == smallest)
    for index, node in enumerate(nodes):
        if node["mtu"] != smallest:
            yield (
                ("nodes", index, "mtu"),
                (
                    f"{node['mtu']} differs from nodes[{first}].mtu ({smallest}); pods use the "
                    "smallest, and one network needs one MTU: set the same mtu on every node"
                ),
            )


def _alerts_without_receiver(values: Mapping[str, Any]) -> Iterator[Finding]:
    """Alertmanager routes alerts to receivers; with none configured they reach nobody
    (https://prometheus.io/docs/alerting/latest/configuration/#receiver)."""
    monitoring = values["features"]["monitoring"]
    alerting = monitoring["alerting"]
    if monitoring["enabled"] and not alerting["receivers"] and not alerting["heartbeat_url"]:
        yield (
            ("features", "monitoring", "alerting", "receivers"),
            (
                "monitoring is on but no receiver is set, so alerts reach nobody; add a receiver "
                "(discord, slack, email, ntfy, pushover or webhook)"
            ),
        )


def _webhook_unreachable(values: Mapping[str, Any]) -> Iterator[Finding]:
    """Flux's Receiver is called by the Git host from the internet
    (https://fluxcd.io/flux/guides/webhook-receivers/); with `ingress.mode: none` its route is
    on the internal gateway only, so the host's calls never arrive and the webhook token
    guards nothing. Flux still polls the repository on its interval. Only said for the public
    forges (those with bundled host keys): a Git server on the LAN reaches the internal
    gateway."""
    repository = values["repository"]
    provider = repository["webhook_provider"]
    public = repo_host(repository["url"]).lower() in BUNDLED_KNOWN_HOSTS
    if values["ingress"]["mode"] == "none" and provider != "none" and public:
        yield (
            ("repository", "webhook_provider"),
            (
                f"{provider} cannot reach Flux's webhook receiver: ingress.mode is none, so "
                "its route is on the internal gateway only; set webhook_provider: none (Flux "
                "polls), or choose an ingress.mode that the Git host can reach"
            ),
        )
