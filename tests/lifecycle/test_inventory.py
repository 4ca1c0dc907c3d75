"""Nodes, installer images and versions as the rendered talos/ folder gives them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from generator.errors import ClusterGenError
from generator.lifecycle.inventory import read_inventory
from tests.lifecycle.conftest import MakeRepo
from tests.lifecycle.repos import (
    CLUSTER_SCHEMATIC,
    KUBERNETES_VERSION,
    OWN_SCHEMATIC,
    TALOS_VERSION,
)

FACTORY = "factory.talos.dev"


@pytest.mark.parametrize(
    ("shape", "images"),
    [
        ("single", {"k8s-0": f"{FACTORY}/metal-installer/{CLUSTER_SCHEMATIC}"}),
        (
            "secureboot",
            {
                "k8s-0": f"{FACTORY}/metal-installer/{CLUSTER_SCHEMATIC}",
                "k8s-1": f"{FACTORY}/metal-installer-secureboot/{CLUSTER_SCHEMATIC}",
                "k8s-2": f"{FACTORY}/metal-installer/{CLUSTER_SCHEMATIC}",
            },
        ),
        (
            "own-schematic",
            {
                "k8s-0": f"{FACTORY}/metal-installer/{CLUSTER_SCHEMATIC}",
                "k8s-1": f"{FACTORY}/metal-installer/{CLUSTER_SCHEMATIC}",
                "k8s-2": f"{FACTORY}/metal-installer/{OWN_SCHEMATIC}",
            },
        ),
    ],
)
def test_each_node_gets_its_installer_at_the_pinned_version(
    make_repo: MakeRepo, shape: str, images: dict[str, str]
) -> None:
    inventory = read_inventory(make_repo(shape, live=False))
    assert inventory.talos_version == TALOS_VERSION
    assert inventory.kubernetes_version == KUBERNETES_VERSION
    assert {n.name: inventory.installer_image(n) for n in inventory.nodes} == {
        name: f"{image}:{TALOS_VERSION}" for name, image in images.items()
    }
    assert not inventory.notes


def test_workers_come_first_then_controllers(make_repo: MakeRepo) -> None:
    inventory = read_inventory(make_repo("three-plus-two", live=False))
    assert [n.name for n in inventory.upgrade_order()] == ["w-0", "w-1", "k8s-0", "k8s-1", "k8s-2"]
    assert [n.address for n in inventory.controllers] == [
        "192.168.1.10",
        "192.168.1.11",
        "192.168.1.12",
    ]
    assert inventory.node("w-1").config_file == "talos/clusterconfig/kubernetes-w-1.yaml"


def test_an_unknown_name_lists_the_known_ones(make_repo: MakeRepo) -> None:
    inventory = read_inventory(make_repo("three-plus-two", live=False))
    with pytest.raises(ClusterGenError) as caught:
        inventory.node("w-2")
    assert str(caught.value) == (
        "no node named 'w-2' in cluster.yaml (did you mean 'w-0' or 'w-1'?); "
        "the nodes are: k8s-0, k8s-1, k8s-2, w-0, w-1"
    )
    with pytest.raises(ClusterGenError, match=r"'zzz' in cluster.yaml; the nodes are: k8s-0,"):
        inventory.node("zzz")


def test_a_render_older_than_cluster_yaml_is_refused(make_repo: MakeRepo) -> None:
    repo = make_repo("single", live=False)
    config = repo / "cluster.yaml"
    data = yaml.safe_load(config.read_text())
    data["nodes"][0]["address"] = "192.168.1.15"
    config.write_text(yaml.safe_dump(data))
    with pytest.raises(ClusterGenError) as caught:
        read_inventory(repo)
    assert str(caught.value) == (
        "talos/talconfig.yaml does not match the nodes in cluster.yaml (differs for: k8s-0): "
        "run `uv run task configure`, then `uv run task talos:generate-config`"
    )
    config.unlink()  # a clone without cluster.yaml: the rendered files are what there is
    assert read_inventory(repo).nodes[0].address == "192.168.1.10"


def test_missing_rendered_files_say_to_configure(tmp_path: Path, make_repo: MakeRepo) -> None:
    missing = r"^talos/talconfig.yaml is missing in .*: run `uv run task configure` first$"
    with pytest.raises(ClusterGenError, match=missing):
        read_inventory(tmp_path)
    repo = make_repo("single", live=False)
    (repo / "talos/talenv.yaml").write_text("---\ntalosVersion: v1.13.7\n")
    without = r"talenv.yaml has no kubernetesVersion: run `uv run task configure`"
    with pytest.raises(ClusterGenError, match=without):
        read_inventory(repo)


def test_a_pin_not_yet_rendered_is_a_note(make_repo: MakeRepo, tmp_path: Path) -> None:
    versions = tmp_path / "versions.yaml"
    versions.write_text(
        f"talos:\n  version: v9.0.0\nkubernetes:\n  version: {KUBERNETES_VERSION}\n"
    )
    inventory = read_inventory(make_repo("single", live=False), versions)
    assert inventory.talos_version == TALOS_VERSION
    assert inventory.notes == (
        f"note: talos/talenv.yaml has talos {TALOS_VERSION}, templates/versions.yaml v9.0.0: "
        f"using {TALOS_VERSION}, as the last `uv run task configure` rendered it (run it again to "
        "render templates/versions.yaml's)",
    )
    unasked = read_inventory(make_repo("single", live=False), versions, pins=("kubernetes",))
    assert unasked.notes == ()
