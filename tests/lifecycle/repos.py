"""A rendered repository for the day-two commands: cluster.yaml of a given shape and the
real render of its `talos/` folder, plus stand-ins for the files a live cluster gives
(talosconfig, kubeconfig, the node configs talhelper writes)."""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from generator import paths
from generator.write.manifest import Manifest, Shadowed, dump_manifest, manifest_path, sha256_hex
from tests import documents
from tests.rendering import copy_templates, render_config, sample_with, write_config

OWN_SCHEMATIC = "b" * 64
CLUSTER_SCHEMATIC = "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba"
_VERSIONS = documents.load(paths.VERSIONS_FILE.read_text())
TALOS_VERSION = _VERSIONS["talos"]["version"]
KUBERNETES_VERSION = _VERSIONS["kubernetes"]["version"]


def _worker(index: int) -> dict[str, Any]:
    return {
        "name": f"w-{index}",
        "address": f"192.168.1.{30 + index}",
        "controller": False,
        "disk": "/dev/sda",
        "mac_addr": f"02:00:00:00:00:{30 + index}",
    }


# The config shapes the commands are checked against: cluster.sample.yaml's three
# controllers (k8s-0, k8s-1, k8s-2) changed as each names.
SHAPES: dict[str, dict[str, Any]] = {
    "single": {"nodes": "single"},
    "three-plus-two": {},
    "secureboot": {},
    "own-schematic": {},
}


def _nodes(shape: str) -> list[dict[str, Any]] | None:
    nodes: list[dict[str, Any]] = sample_with({})["nodes"]
    if shape == "three-plus-two":
        return [*nodes, _worker(0), _worker(1)]
    if shape == "secureboot":
        nodes[1]["secureboot"] = True
        return nodes
    if shape == "own-schematic":
        nodes[2]["schematic_id"] = OWN_SCHEMATIC
        return nodes
    return None


def config_of(shape: str) -> dict[str, Any]:
    data = sample_with(SHAPES[shape])
    nodes = _nodes(shape)
    if nodes is not None:
        data["nodes"] = nodes
    return data


@functools.cache
def _talos_templates() -> Path:
    """A template root of templates/config/talos alone (rendered per test, made once)."""
    return copy_templates(Path(tempfile.mkdtemp(prefix="talos-templates-")), ("talos",))


@functools.cache
def _talos_render(shape: str) -> Mapping[str, bytes]:
    """The rendered talos/ files of `shape`, once per process: a render is a function of
    cluster.yaml's content (the side files are tests/fakes'), and ~80 tests ask for one of
    four shapes."""
    config = write_config(config_of(shape), Path(tempfile.mkdtemp(prefix=f"talos-{shape}-")))
    return MappingProxyType(render_config(config, template_root=_talos_templates()).files)


def rendered_repo(directory: Path, shape: str, *, live: bool = True) -> Path:
    """`directory` holding cluster.yaml of `shape` and its rendered talos/ files; with
    `live`, also what bootstrap leaves (talosconfig, kubeconfig, talsecret, node configs,
    age.key): stand-ins, the stub tools never read them."""
    write_config(config_of(shape), directory)
    for relative, content in _talos_render(shape).items():
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    if live:
        talconfig = documents.load((directory / "talos/talconfig.yaml").read_text())
        live_files = ["kubeconfig", "age.key", "talos/talsecret.sops.yaml",
                      "talos/clusterconfig/talosconfig"]  # fmt: skip
        live_files += [f"talos/clusterconfig/kubernetes-{n['hostname']}.yaml"
                       for n in talconfig["nodes"]]  # fmt: skip
        for relative in live_files:
            (directory / relative).parent.mkdir(parents=True, exist_ok=True)
            (directory / relative).write_text("stand-in\n")
    return directory


def record_render(
    directory: Path, *, released: Sequence[str] = (), overrides: Sequence[str] = ()
) -> None:
    """Write `.clustergen/manifest.json` as configure leaves it over the talos/ files now in
    `directory`: each file's sha256, but `released` (taken over with `--keep-mine`: their
    render's digest under `released`); `overrides`: the talos/ files an override renders
    (`overrides/<path>.j2` shadowing `templates/config/<path>.j2`)."""
    digests = {
        path.relative_to(directory).as_posix(): sha256_hex(path.read_bytes())
        for path in sorted((directory / paths.TALOS_DIR).rglob("*"))
        if path.is_file() and "clusterconfig" not in path.parts and ".sops." not in path.name
    }
    manifest = Manifest(
        files={p: d for p, d in digests.items() if p not in released},
        released={p: "0" * 64 for p in released},
        overrides={
            f"overrides/{p}.j2": Shadowed(f"templates/config/{p}.j2", "1" * 64) for p in overrides
        },
    )
    target = manifest_path(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(dump_manifest(manifest))


def node_addresses(directory: Path) -> Mapping[str, str]:
    """{name: address} from cluster.yaml, as the user wrote them."""
    data = documents.load((directory / paths.CONFIG_NAME).read_text())
    return {n["name"]: n["address"] for n in data["nodes"]}
