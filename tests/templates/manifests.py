"""Reading a rendered kubernetes/ tree ({path: bytes}) back: documents, objects, releases."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping
from typing import Any

from tests import documents

DOMAIN = "example.com"  # domain.name in cluster.sample.yaml


def docs(tree: Mapping[str, bytes], path: str) -> list[dict[str, Any]]:
    return [d for d in documents.load_all(tree[path]) if d is not None]


def objects(tree: Mapping[str, bytes]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every document but kustomizations', after Flux's postBuild substitution of
    cluster-secrets."""
    for path, content in tree.items():
        if path.endswith(".yaml") and posixpath.basename(path) != "kustomization.yaml":
            text = content.decode().replace("${SECRET_DOMAIN}", DOMAIN)
            for doc in documents.load_all(text):
                if doc is not None:
                    yield path, doc


def of_kind(tree: Mapping[str, bytes], kind: str) -> list[tuple[str, dict[str, Any]]]:
    """`objects` of `kind` (only those copied out of the parse cache)."""

    def wanted(doc: Any) -> bool:
        return doc is not None and doc["kind"] == kind

    return [
        (path, doc)
        for path, content in tree.items()
        if path.endswith(".yaml") and posixpath.basename(path) != "kustomization.yaml"
        for doc in documents.load_all_where(
            content.decode().replace("${SECRET_DOMAIN}", DOMAIN), wanted
        )
    ]


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


def kustomize_dirs(tree: Mapping[str, bytes]) -> list[str]:
    return sorted(posixpath.dirname(p) for p in tree if p.endswith("/kustomization.yaml"))


def unlisted_or_dangling(tree: Mapping[str, bytes]) -> list[str]:
    """Kustomization entries that are not rendered, and rendered files nobody lists."""
    problems: list[str] = []
    listed: set[str] = set()
    for directory in kustomize_dirs(tree):
        kustomization = docs(tree, f"{directory}/kustomization.yaml")[0]
        for ref in kustomization.get("resources", []) + kustomization.get("components", []):
            path = posixpath.normpath(posixpath.join(directory, ref))
            if path not in tree and f"{path}/kustomization.yaml" not in tree:
                problems.append(f"{directory}/kustomization.yaml lists missing {ref}")
            listed.add(path)
    for path in tree:
        # Only manifests: kustomize and Flux read no other file (an app folder's README.md).
        manifest = path.endswith((".yaml", ".yml"))
        app_file = (
            path.startswith("kubernetes/apps/")
            and manifest
            and not path.endswith("/kustomization.yaml")
        )
        if app_file and path not in listed:
            problems.append(f"{path} is listed by no kustomization.yaml")
    return problems
