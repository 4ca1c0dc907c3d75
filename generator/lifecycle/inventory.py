"""The nodes and versions of the rendered repository, by the names cluster.yaml gives.

Everything comes from the rendered `talos/` folder, the files talhelper itself reads:
- `talos/talconfig.yaml`: each node's `hostname` (cluster.yaml's `name`), `ipAddress`,
  `controlPlane`, `machineSpec.secureboot` and `talosImageURL`, the installer without its
  tag: `factory.talos.dev/metal-installer[-secureboot]/<schematic>` (the Image Factory's name
  for metal installers from Talos 1.10), the node's own schematic or the cluster's
  (templates/config/talos/talconfig.yaml.j2).
- `talos/talenv.yaml`: `talosVersion` and `kubernetesVersion`, rendered from
  templates/versions.yaml. The installer image is `talosImageURL:talosVersion`, as
  talhelper builds it (budimanjojo/talhelper v3.1.16 pkg/generate/command.go
  GenerateUpgradeCommand); each node's machine config is
  `clusterconfig/<clusterName>-<hostname>.yaml` (pkg/config/defaults.go GetFilenameTmpl).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from generator import bounded_yaml, paths
from generator.errors import ClusterGenError

TALCONFIG = f"{paths.TALOS_DIR}/talconfig.yaml"
TALENV = f"{paths.TALOS_DIR}/talenv.yaml"
CLUSTERCONFIG = f"{paths.TALOS_DIR}/clusterconfig"
_CONFIGURE = "run `uv run task configure` first"


@dataclass(frozen=True)
class Node:
    """One node. `installer`: its talosImageURL (no tag); `config_file`: its machine
    config as talhelper genconfig writes it, relative to the repository."""

    name: str
    address: str
    controller: bool
    secureboot: bool
    installer: str
    config_file: str


@dataclass(frozen=True)
class Inventory:
    """The nodes in cluster.yaml order; versions as talenv.yaml pins them (`v1.13.7`).
    `notes`: where the pins asked for differ from templates/versions.yaml."""

    nodes: tuple[Node, ...]
    talos_version: str
    kubernetes_version: str
    notes: tuple[str, ...] = ()

    @property
    def controllers(self) -> tuple[Node, ...]:
        return tuple(node for node in self.nodes if node.controller)

    @property
    def workers(self) -> tuple[Node, ...]:
        return tuple(node for node in self.nodes if not node.controller)

    def node(self, name: str) -> Node:
        """The node called `name`; ClusterGenError naming the known ones otherwise."""
        for node in self.nodes:
            if node.name == name:
                return node
        names = [node.name for node in self.nodes]
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
        close = [n for n in names if n in close]  # equally close: in cluster.yaml's order
        hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
        raise ClusterGenError(
            f"no node named '{name}' in cluster.yaml{hint}; the nodes are: {', '.join(names)}"
        )

    def installer_image(self, node: Node) -> str:
        """`factory.talos.dev/metal-installer[-secureboot]/<schematic>:<talosVersion>`."""
        return f"{node.installer}:{self.talos_version}"

    def upgrade_order(self) -> tuple[Node, ...]:
        """Workers first, then controllers (etcd loses one member at a time, last)."""
        return self.workers + self.controllers


def read_inventory(
    workdir: Path,
    versions_file: Path = paths.VERSIONS_FILE,
    *,
    pins: Sequence[str] = ("talos", "kubernetes"),
) -> Inventory:
    """Read talconfig.yaml and talenv.yaml under `workdir`, check that their nodes are
    cluster.yaml's (when it is there). ClusterGenError when a file is missing or was
    rendered from another cluster.yaml, naming the command that fixes it. `pins`: the
    versions ("talos", "kubernetes") noted when they differ from `versions_file`."""
    talconfig = _mapping(workdir, TALCONFIG)
    talenv = _mapping(workdir, TALENV)
    cluster_name = str(talconfig.get("clusterName", ""))
    _rendered("clusterName", cluster_name, _DNS_LABEL)
    nodes = tuple(_node(entry, cluster_name) for entry in _list(talconfig.get("nodes")))
    if not nodes:
        raise ClusterGenError(f"{TALCONFIG} lists no nodes: {_CONFIGURE}")
    if not any(node.controller for node in nodes):
        raise ClusterGenError(f"{TALCONFIG} lists no control-plane node: {_CONFIGURE}")
    _same_nodes_as_config(workdir, nodes)
    talos_version = _version(talenv, "talosVersion")
    kubernetes_version = _version(talenv, "kubernetesVersion")
    rendered = {"talos": talos_version, "kubernetes": kubernetes_version}
    notes = _pin_notes(versions_file, {name: rendered[name] for name in pins})
    return Inventory(nodes, talos_version, kubernetes_version, notes)


def _mapping(workdir: Path, relative: str) -> dict[str, Any]:
    path = workdir / relative
    try:
        data = bounded_yaml.load(path.read_bytes())
    except FileNotFoundError:
        raise ClusterGenError(f"{relative} is missing in {workdir}: {_CONFIGURE}") from None
    except (OSError, ValueError, yaml.YAMLError) as err:
        raise ClusterGenError(f"{relative} cannot be read: {err}") from None
    if not isinstance(data, dict):
        raise ClusterGenError(f"{relative} is not a YAML mapping: {_CONFIGURE}")
    return data


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _node(entry: object, cluster_name: str) -> Node:
    if not isinstance(entry, dict) or not entry.get("hostname") or not entry.get("ipAddress"):
        raise ClusterGenError(f"{TALCONFIG}: a node without hostname or ipAddress: {_CONFIGURE}")
    name = str(entry["hostname"])
    installer = entry.get("talosImageURL")
    if not installer:
        raise ClusterGenError(f"{TALCONFIG}: node '{name}' has no talosImageURL: {_CONFIGURE}")
    # Each value becomes an argument of talosctl (`--nodes`, `--image`) or part of a path:
    # only what configure renders from a checked cluster.yaml, never an option or a list.
    _rendered("a node's hostname", name, _DNS_LABEL)
    _rendered(f"node '{name}' ipAddress", str(entry["ipAddress"]), _IPV4)
    _rendered(f"node '{name}' talosImageURL", str(installer), _IMAGE)
    spec = entry.get("machineSpec")
    return Node(
        name=name,
        address=str(entry["ipAddress"]),
        controller=entry.get("controlPlane") is True,
        secureboot=isinstance(spec, dict) and spec.get("secureboot") is True,
        installer=str(installer),
        config_file=f"{CLUSTERCONFIG}/{cluster_name}-{name}.yaml",
    )


# What configure renders (cluster.yaml's dns_label and ipv4, templates/config/talos macros).
_DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_IPV4 = re.compile(
    r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}"
)
_IMAGE = re.compile(r"[a-z0-9][a-z0-9.-]*(:[0-9]+)?(/[a-z0-9][a-z0-9._-]*)+")
_VERSION = re.compile(r"v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?")


def _rendered(what: str, value: str, shape: re.Pattern[str]) -> None:
    if not shape.fullmatch(value):
        raise ClusterGenError(
            f"{TALCONFIG}: {what} is {value!r}, which configure never renders (edited by "
            f"hand?): {_CONFIGURE} (it writes the file anew from cluster.yaml)"
        )


def _same_nodes_as_config(workdir: Path, nodes: tuple[Node, ...]) -> None:
    """cluster.yaml names the nodes; a talconfig.yaml rendered before its last edit would
    send a command to the wrong address."""
    config = workdir / paths.CONFIG_NAME
    if not config.is_file():  # a clone without cluster.yaml: the rendered files are all there is
        return
    try:
        data = bounded_yaml.load(config.read_bytes(), bounded_yaml.CONFIG_LIMITS)
    except (OSError, ValueError, yaml.YAMLError):
        return  # `task check` reports what is wrong with it; the rendered files still stand
    wanted = {
        str(entry.get("name")): str(entry.get("address"))
        for entry in _list(data.get("nodes") if isinstance(data, dict) else None)
        if isinstance(entry, dict)
    }
    rendered = {node.name: node.address for node in nodes}
    if wanted and wanted != rendered:
        differ = sorted(
            name
            for name in wanted.keys() | rendered.keys()
            if wanted.get(name) != rendered.get(name)
        )
        raise ClusterGenError(
            f"{TALCONFIG} does not match the nodes in cluster.yaml (differs for: "
            f"{', '.join(differ)}): run `uv run task configure`, then "
            "`uv run task talos:generate-config`"
        )


def _version(talenv: dict[str, Any], key: str) -> str:
    value = talenv.get(key)
    if not isinstance(value, str) or not value:
        raise ClusterGenError(f"{TALENV} has no {key}: {_CONFIGURE}")
    if not _VERSION.fullmatch(value):
        raise ClusterGenError(
            f"{TALENV}: {key} is {value!r}, not a version like v1.2.3 (edited by hand?): "
            f"{_CONFIGURE}"
        )
    return value


def _pin_notes(versions_file: Path, rendered_pins: dict[str, str]) -> tuple[str, ...]:
    if not rendered_pins:
        return ()
    try:
        versions = bounded_yaml.load(versions_file.read_bytes())
    except (OSError, ValueError, yaml.YAMLError):
        return ()
    notes = []
    for name, rendered in rendered_pins.items():
        entry = versions.get(name) if isinstance(versions, dict) else None
        pinned = entry.get("version") if isinstance(entry, dict) else None
        if pinned and str(pinned) != rendered:
            notes.append(
                f"note: {TALENV} has {name} {rendered}, templates/versions.yaml {pinned}: "
                f"using {rendered}, as the last `uv run task configure` rendered it (run it again "
                f"to render templates/versions.yaml's)"
            )
    return tuple(notes)
