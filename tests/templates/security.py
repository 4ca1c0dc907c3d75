"""Rendering helpers for the security feature tests (network policies, PDBs, pod security,
Kyverno, resource governance, Trivy) and their golden trees.

The tree holds the core namespaces, the observability namespace (scraping rules follow it)
and what the security flags add, rendered from cluster.sample.yaml with dotted-key changes
by the real config loader and renderer (tests/rendering.py, side files from tests/fakes.py).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from tests import documents
from tests.features import all_features_changes
from tests.rendering import render_sample, shared_templates

Tree = dict[str, bytes]
Doc = dict[str, Any]

TEMPLATE_DIRS = (
    "kubernetes/flux",
    "kubernetes/components",
    "kubernetes/apps/flux-system",
    "kubernetes/apps/kube-system",
    "kubernetes/apps/cert-manager",
    "kubernetes/apps/network",
    "kubernetes/apps/default",
    "kubernetes/apps/observability",
    "kubernetes/apps/kyverno",
    "kubernetes/apps/trivy-system",
    "kubernetes/apps/velero",
    "docs/runbooks",
    "docs/network-policies.md.j2",
)
S3 = {
    "features.backups.s3.endpoint": "https://s3.example.com:9000",
    "features.backups.s3.bucket": "cluster-backups",
    "features.backups.s3.access_key": "fake-access-key",
    "features.backups.s3.secret_key": "fake-secret-key",
}
SECURITY_OFF: dict[str, Any] = {
    "features.network_policies.enabled": False,
    "features.pod_disruption_budgets.enabled": False,
    "features.pod_security.enabled": False,
    "features.policy_engine.enabled": False,
    "features.resource_governance.enabled": False,
    "features.vulnerability_scanning.enabled": False,
}
# Every feature on (tests/features.py: derived from the schema), with this file's S3 values.
ALL_ON: dict[str, Any] = {**all_features_changes(), **S3}
SINGLE_NODE: dict[str, Any] = {"nodes": "single"}
ENFORCE: dict[str, Any] = {**ALL_ON, "features.network_policies.mode": "enforce"}
TUNNEL: dict[str, Any] = {"ingress.mode": "cloudflare-tunnel"}
# Cilium's label for the namespace of a pod, in policy selectors.
NS_LABEL = "k8s:io.kubernetes.pod.namespace"


def _templates() -> Path:
    # One copy of TEMPLATE_DIRS per process: templates elsewhere can neither break nor
    # satisfy these tests.
    return shared_templates(TEMPLATE_DIRS)


def render(changes: Mapping[str, Any], workdir: Path | None = None) -> Tree:
    """The tree for the sample with `changes` (rendered once per process; `workdir`,
    if given, is created for callers that keep files beside it)."""
    if workdir is not None:
        workdir.mkdir(parents=True)
    return render_sample(changes, template_root=_templates())


def objects(tree: Mapping[str, bytes]) -> Iterator[tuple[str, Doc]]:
    """Every Kubernetes object of the tree's YAML files (kustomizations excluded)."""
    for path, content in sorted(tree.items()):
        if path.endswith(".yaml") and posixpath.basename(path) != "kustomization.yaml":
            for doc in documents.load_all(content):
                if isinstance(doc, dict) and "kind" in doc:
                    yield path, doc


def of_kind(tree: Mapping[str, bytes], *kinds: str) -> list[Doc]:
    """`objects` of `kinds` (only those copied out of the parse cache)."""

    def wanted(doc: Any) -> bool:
        return isinstance(doc, dict) and "kind" in doc and doc["kind"] in kinds

    return [
        doc
        for path, content in sorted(tree.items())
        if path.endswith(".yaml") and posixpath.basename(path) != "kustomization.yaml"
        for doc in documents.load_all_where(content, wanted)
    ]


def find(tree: Mapping[str, bytes], kind: str, name: str) -> Doc:
    found = [d for d in of_kind(tree, kind) if d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered"
    return found[0]


def policies(tree: Mapping[str, bytes]) -> list[Doc]:
    return of_kind(tree, "CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy")


def namespaces(tree: Mapping[str, bytes]) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in of_kind(tree, "Namespace")}


def dig(data: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        data = data[key]
    return data


class Trees:
    """Renders cached by their changes, for a module-scoped fixture."""

    def __init__(self, tmp_path_factory: Any) -> None:
        self._factory = tmp_path_factory
        self._cache: dict[str, Tree] = {}

    def __call__(self, changes: Mapping[str, Any]) -> Tree:
        key = repr(sorted(changes.items()))
        if key not in self._cache:
            self._cache[key] = render(changes, self._factory.mktemp("security") / "work")
        return self._cache[key]


def helm_values(tree: Mapping[str, bytes], release: str) -> dict[str, Any]:
    values: dict[str, Any] = find(tree, "HelmRelease", release)["spec"].get("values", {})
    return values


SECURITY_PATHS = (
    "kubernetes/apps/kube-system/network-policies/",
    "kubernetes/apps/kube-system/disruption-budgets/",
    "kubernetes/apps/kyverno/",
    "kubernetes/apps/trivy-system/",
    "kubernetes/components/resource-governance/",
    "docs/runbooks/vulnerabilities.md",
    "docs/network-policies.md",
)


def security_files(tree: Mapping[str, bytes]) -> Tree:
    """What the security flags own, plus every namespace.yaml (they carry the PSS labels)."""
    return {
        p: c
        for p, c in tree.items()
        if p.startswith(SECURITY_PATHS)
        or posixpath.basename(p) == "namespace.yaml"
        or "/network-policies/" in p  # each namespace's own policies
    }


def _is_root(path: str) -> bool:
    """Kustomizations nothing lists: a namespace's, an app's (a ks.yaml points at it), a
    component's (a namespace lists its directory)."""
    parts = path.split("/")
    return (
        (parts[:2] == ["kubernetes", "apps"] and len(parts) == 4)
        or (len(parts) >= 2 and parts[-2] == "app")
        or parts[:2] == ["kubernetes", "components"]
    )


def kustomization_problems(tree: Mapping[str, bytes], under: str) -> list[str]:
    """Entries of kustomizations under `under` that are not rendered, and unlisted files."""
    problems: list[str] = []
    listed: set[str] = set()
    for path in sorted(p for p in tree if p.startswith(under) and p.endswith("kustomization.yaml")):
        directory = posixpath.dirname(path)
        kustomization = documents.load(tree[path])
        for ref in kustomization.get("resources", []) + kustomization.get("components", []):
            target = posixpath.normpath(posixpath.join(directory, ref))
            if target not in tree and f"{target}/kustomization.yaml" not in tree:
                problems.append(f"{path} lists missing {ref}")
            listed.update({target, f"{target}/kustomization.yaml"})
    for path in sorted(tree):
        if not path.startswith(under) or not path.endswith(".yaml"):
            continue
        if path not in listed and not _is_root(path) and not path.endswith("/ks.yaml"):
            problems.append(f"{path} is listed by no kustomization.yaml")
    return problems
