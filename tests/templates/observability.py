"""Rendering helpers for the observability tests (features.monitoring, flux_notifications).

The tree holds the core namespaces plus what these features add (the observability
namespace and docs/runbooks), rendered from cluster.sample.yaml with dotted-key changes by
the real loader and renderer (tests/templates/conftest.py).
"""

from __future__ import annotations

import posixpath
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from generator import paths
from generator.render.tree import render_tree
from tests.templates.conftest import CORE_DIRS

DOMAIN = "example.com"  # domain.name in cluster.sample.yaml
OBSERVABILITY_DIRS = ("kubernetes/apps/observability", "docs/runbooks")

# Every chart these features pin is in templates/versions.yaml now; kept (empty) because
# other feature tests import it.
PENDING_CHARTS: dict[str, dict[str, str]] = {}

Tree = dict[str, bytes]
RenderTree = Callable[[Mapping[str, Any]], Tree]


def copy_templates(root: Path, directories: tuple[str, ...]) -> Path:
    for directory in directories:
        source = paths.TEMPLATE_TREE / directory
        if source.is_dir():
            shutil.copytree(source, root / directory)
    return root


def make_renderer(
    root: Path, context_for: Callable[[Mapping[str, Any]], dict[str, Any]]
) -> RenderTree:
    cache: dict[str, Tree] = {}

    def _render(changes: Mapping[str, Any]) -> Tree:
        key = repr(sorted(changes.items(), key=lambda kv: kv[0]))
        if key not in cache:
            cache[key] = render_tree(context_for(changes), template_root=root).files
        return cache[key]

    return _render


def template_root_with(tmp: Path, extra: tuple[str, ...]) -> Path:
    return copy_templates(tmp / "config", (*CORE_DIRS, *extra))


def docs(tree: Mapping[str, bytes], path: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(tree[path]) if d is not None]


def objects(tree: Mapping[str, bytes]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every Kubernetes object, after Flux's postBuild substitution of cluster-secrets."""
    for path, content in tree.items():
        if path.endswith(".yaml") and posixpath.basename(path) != "kustomization.yaml":
            text = content.decode().replace("${SECRET_DOMAIN}", DOMAIN)
            for doc in yaml.safe_load_all(text):
                if isinstance(doc, dict) and "kind" in doc:
                    yield path, doc


def of_kind(tree: Mapping[str, bytes], kind: str) -> list[tuple[str, dict[str, Any]]]:
    return [(p, d) for p, d in objects(tree) if d["kind"] == kind]


def find(tree: Mapping[str, bytes], kind: str, name: str) -> dict[str, Any]:
    found = [d for _, d in of_kind(tree, kind) if d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered"
    return found[0]


def values(tree: Mapping[str, bytes], release: str) -> dict[str, Any]:
    result: dict[str, Any] = find(tree, "HelmRelease", release)["spec"].get("values", {})
    return result


def dig(data: Any, dotted: str) -> Any:
    """`a.b.c` in nested mappings; None when any step is missing."""
    for key in dotted.split("."):
        if not isinstance(data, Mapping) or key not in data:
            return None
        data = data[key]
    return data


def unlisted_or_dangling(tree: Mapping[str, bytes]) -> list[str]:
    """Kustomization entries that are not rendered, and rendered files nobody lists."""
    problems: list[str] = []
    listed: set[str] = set()
    for directory in sorted(
        posixpath.dirname(p) for p in tree if p.endswith("/kustomization.yaml")
    ):
        kustomization = docs(tree, f"{directory}/kustomization.yaml")[0]
        for ref in kustomization.get("resources", []) + kustomization.get("components", []):
            path = posixpath.normpath(posixpath.join(directory, ref))
            if path not in tree and f"{path}/kustomization.yaml" not in tree:
                problems.append(f"{directory}/kustomization.yaml lists missing {ref}")
            listed.add(path)
    for path in tree:
        app_file = path.startswith("kubernetes/apps/") and not path.endswith("/kustomization.yaml")
        if app_file and path not in listed:
            problems.append(f"{path} is listed by no kustomization.yaml")
    return problems
