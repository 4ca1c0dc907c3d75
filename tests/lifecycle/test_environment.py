"""One set of paths for the cluster's credentials: generator/paths.py, the Taskfile's
env: block and the rendered .mise.toml agree; an exported variable wins, with a note."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

from generator import paths
from generator.lifecycle.environment import cluster_files

ROOT = Path(__file__).resolve().parents[2]


def test_the_taskfile_sets_the_same_paths() -> None:
    env = yaml.safe_load((ROOT / "Taskfile.yaml").read_text())["env"]
    assert env == {name: "{{.ROOT_DIR}}/" + rel for name, rel in paths.CLUSTER_ENV.items()}


def test_the_rendered_mise_config_sets_the_same_paths() -> None:
    mise = tomllib.loads((paths.TEMPLATE_TREE / ".mise.toml").read_text())
    assert mise == {
        "env": {name: "{{config_root}}/" + rel for name, rel in paths.CLUSTER_ENV.items()}
    }


def test_the_repository_files_unless_the_environment_names_others(tmp_path: Path) -> None:
    files = cluster_files(tmp_path, {})
    assert files.kubeconfig == tmp_path.resolve() / "kubeconfig"
    assert files.talosconfig == tmp_path.resolve() / "talos/clusterconfig/talosconfig"
    assert files.age_key == tmp_path.resolve() / "age.key"
    assert files.notes == ()
    assert files.shown(files.talosconfig) == "talos/clusterconfig/talosconfig"

    elsewhere = tmp_path.parent / "other-kubeconfig"
    files = cluster_files(tmp_path, {"KUBECONFIG": str(elsewhere), "TALOSCONFIG": ""})
    assert files.kubeconfig == elsewhere
    assert files.shown(files.kubeconfig) == str(elsewhere)
    assert files.env["KUBECONFIG"] == str(elsewhere)
    assert files.notes == (
        f"note: KUBECONFIG={elsewhere} is set: using it instead of ./kubeconfig",
    )
    # The Taskfile exports the repository's own paths: no note for those.
    own = {name: str(tmp_path / rel) for name, rel in paths.CLUSTER_ENV.items()}
    assert cluster_files(tmp_path, own).notes == ()
