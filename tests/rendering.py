"""Real renders for tests: cluster.sample.yaml with dotted-key changes, loaded by the real
config loader (defaults, rules, derived values) and rendered by the real renderer.

    config = write_config(sample_with({"ingress.mode": "none"}), tmp_path)
    files = render_config(config).files
    files = render_sample({"ingress.mode": "none"})   # the same, rendered once per process

Render through `render_sample` wherever a test only needs the files: each scenario
is rendered once per test process (per pytest-xdist worker), whichever file asks.
`render_config` renders a template context once per process too, for the full template
tree and the copies `shared_templates` makes (trees nobody edits), whatever changes or
file it came from: equal contexts render equal trees. Each caller gets its own copy.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
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
from tests import documents
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
    config.write_text(documents.dump(dict(data), sort_keys=False), encoding="utf-8")
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
    """The rendered tree of `config` (every template unless `template_root` says otherwise);
    rendered once per process for each distinct context when `template_root` is the full
    tree or a `shared_templates` copy."""
    return render_context(context_of(config, side), template_root)


# Template roots no test edits: the project's own tree and shared_templates' copies.
_STABLE_ROOTS: set[Path] = {paths.TEMPLATE_TREE}
_trees: dict[tuple[str, Path], RenderedTree] = {}


def render_context(context: Mapping[str, Any], template_root: Path) -> RenderedTree:
    """render_tree(context, template_root), made once per process for each context (by
    value, key order included) and stable root; a fresh RenderedTree for every caller.
    A render that fails is not kept: it fails again for the next caller."""
    key = _context_digest(context)
    if key is None or template_root not in _STABLE_ROOTS:
        return render_tree(context, template_root=template_root)
    if (key, template_root) not in _trees:
        _trees[key, template_root] = render_tree(context, template_root=template_root)
    tree = _trees[key, template_root]
    return dataclasses.replace(
        tree,
        files=dict(tree.files),
        modes=dict(tree.modes),
        origins=dict(tree.origins),
        shadowed=dict(tree.shadowed),
    )


_PLAIN = (str, int, float, bool, type(None))


def _context_digest(context: Mapping[str, Any]) -> str | None:
    """A digest of `context`'s value, or None when it holds anything but YAML's plain data
    (whose repr says all it is: no object's address that a later one could reuse)."""

    def plain(node: object) -> bool:
        if isinstance(node, dict):
            return all(plain(k) and plain(v) for k, v in node.items())
        if isinstance(node, list | tuple):
            return all(plain(item) for item in node)
        return isinstance(node, _PLAIN)

    if not plain(context):
        return None
    return hashlib.sha256(repr(context).encode()).hexdigest()


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


@functools.cache
def shared_templates(names: tuple[str, ...]) -> Path:
    """A template root holding only `names` of templates/config (copy_templates), one per
    process for each `names`: every file asking for the same subset shares it, its
    compiled templates and its renders (render_config). Nobody may edit it; a test that
    changes templates makes its own copy with copy_templates."""
    root = copy_templates(Path(tempfile.mkdtemp(prefix="templates-")) / "config", names)
    _STABLE_ROOTS.add(root)
    return root


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
