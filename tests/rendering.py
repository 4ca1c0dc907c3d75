"""Real renders for tests: cluster.sample.yaml with dotted-key changes, loaded by the real
config loader (defaults, rules, derived values) and rendered by the real renderer.

    config = write_config(sample_with({"ingress.mode": "none"}), tmp_path)
    files = render_config(config).files
    files = render_sample({"ingress.mode": "none"})   # the same, rendered once per process

Render through `render_sample` wherever a test only needs the files: each scenario
is rendered once per test process (per pytest-xdist worker), whichever file asks.
"""

from __future__ import annotations

import copy
import functools
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from generator import paths
from generator.config import load_cluster
from generator.render.context import build_context, load_versions
from generator.render.tree import RenderedTree, render_tree
from generator.sidefiles import SideFiles
from tests.fakes import side_files
from tests.features import all_features_changes

SideFor = Callable[[Mapping[str, Any]], SideFiles]

# Every feature on (each `enabled` flag of the schema, required values from the sample's
# examples): derived in tests/features.py, so a new feature is in it without an edit here.
EVERY_CHART: dict[str, Any] = all_features_changes()


@functools.cache
def _sample() -> dict[str, Any]:
    data = yaml.safe_load(paths.SAMPLE_CONFIG.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def sample_with(changes: Mapping[str, Any]) -> dict[str, Any]:
    """cluster.sample.yaml's data with `changes` ({"a.b.c": value}) applied to a copy.

    Sections missing on the way (or all commented out) are created; `"nodes": "single"`
    keeps only the first node.
    """
    data = copy.deepcopy(_sample())
    for dotted, value in changes.items():
        if dotted == "nodes" and value == "single":
            data["nodes"] = data["nodes"][:1]
            continue
        *parents, leaf = dotted.split(".")
        node = data
        for key in parents:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[leaf] = value
    return data


def write_config(data: Mapping[str, Any], directory: Path) -> Path:
    """`directory`/cluster.yaml holding `data`."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / paths.CONFIG_NAME
    config.write_text(yaml.safe_dump(dict(data), sort_keys=False), encoding="utf-8")
    return config


def context_of(config: Path, side: SideFiles | SideFor = side_files) -> dict[str, Any]:
    """The template context of `config`; `side` is fixed or made for the cluster's context."""
    cluster = load_cluster(config).context()
    chosen = side if isinstance(side, SideFiles) else side(cluster)
    return build_context(cluster, chosen, load_versions(paths.VERSIONS_FILE))


def render_config(
    config: Path,
    side: SideFiles | SideFor = side_files,
    template_root: Path = paths.TEMPLATE_TREE,
) -> RenderedTree:
    """The rendered tree of `config` (every template unless `template_root` says otherwise)."""
    return render_tree(context_of(config, side), template_root=template_root)


_rendered: dict[tuple[str, str, object], dict[str, bytes]] = {}


def render_sample(
    changes: Mapping[str, Any],
    template_root: Path = paths.TEMPLATE_TREE,
    side: SideFiles | SideFor = side_files,
) -> dict[str, bytes]:
    """{path: bytes} of the sample with `changes`, rendered once per process for each
    (changes, template root, side files); every caller gets its own dict."""
    key = (repr(sorted(changes.items())), str(template_root), side)
    if key not in _rendered:
        workdir = Path(tempfile.mkdtemp(prefix="render-"))
        config = write_config(sample_with(changes), workdir)
        _rendered[key] = render_config(config, side, template_root).files
        shutil.rmtree(workdir, ignore_errors=True)
    return dict(_rendered[key])


def copy_templates(root: Path, names: tuple[str, ...]) -> Path:
    """A template root holding only `names` (directories or files) of templates/config, and
    the renderer's own files at its top (`_folder_guards.yaml`)."""
    own = tuple(p.name for p in paths.TEMPLATE_TREE.glob("_*") if p.is_file())
    for name in dict.fromkeys((*names, *own)):
        source, target = paths.TEMPLATE_TREE / name, root / name
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return root
