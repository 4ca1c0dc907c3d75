"""Rendering helpers for the security feature tests (network policies, PDBs, pod security,
Kyverno, resource governance, Trivy) and their golden trees.

The tree holds the core namespaces, the observability namespace (scraping rules follow it)
and what the security flags add, rendered from cluster.sample.yaml with dotted-key changes
by the real config loader and renderer. Side files are a stand-in: a real pyrage age key
and fake tokens.
"""

from __future__ import annotations

import copy
import posixpath
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pyrage
import yaml

from generator import paths
from generator.config import load_cluster
from generator.render.context import build_context, load_versions
from generator.render.tree import render_tree
from generator.sidefiles import SideFiles

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
)
# Charts pinned here until templates/versions.yaml carries them (it wins when it does).
PENDING_CHARTS: dict[str, dict[str, str]] = {
    "kyverno": {"version": "3.9.0", "repository": "oci://ghcr.io/kyverno/charts/kyverno"},
    "trivy-operator": {
        "version": "0.34.0",
        "repository": "oci://ghcr.io/aquasecurity/helm-charts/trivy-operator",
    },
}

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
ALL_ON: dict[str, Any] = {
    "features.network_policies.enabled": True,
    "features.pod_disruption_budgets.enabled": True,
    "features.pod_security.enabled": True,
    "features.policy_engine.enabled": True,
    "features.resource_governance.enabled": True,
    "features.vulnerability_scanning.enabled": True,
    "features.monitoring.enabled": True,
    "features.monitoring.logs.enabled": True,
    "features.monitoring.tracing.enabled": True,
    "features.backups.enabled": True,
    **S3,
}
SINGLE_NODE: dict[str, Any] = {"nodes": "single"}
FAKE_DEPLOY_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nZmFrZQ==\n-----END OPENSSH PRIVATE KEY-----\n"
)


def _with_changes(data: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(data)
    for dotted, value in changes.items():
        if dotted == "nodes" and value == "single":
            data["nodes"] = data["nodes"][:1]
            continue
        *parents, leaf = dotted.split(".")
        target = data
        for key in parents:
            if not isinstance(target.get(key), dict):
                target[key] = {}
            target = target[key]
        target[leaf] = value
    return data


def _side(context: Mapping[str, Any]) -> SideFiles:
    identity = pyrage.x25519.Identity.generate()
    tunnel = context["ingress"]["mode"] == "cloudflare-tunnel"
    ssh = context["derived"]["repo_is_ssh"]
    return SideFiles(
        age_public_key=str(identity.to_public()),
        age_private_key=str(identity),
        webhook_token="0123456789abcdef0123456789abcdef",
        deploy_key=FAKE_DEPLOY_KEY if ssh else None,
        deploy_key_pub="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFake flux" if ssh else None,
        tunnel_id="6f2a1c3e-5b7d-4e8f-9a0b-1c2d3e4f5a6b" if tunnel else None,
        tunnel_account="0123456789abcdef0123456789abcdef" if tunnel else None,
        tunnel_secret="c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0" if tunnel else None,
        tunnel_token="eyJhIjoiYWNjb3VudCIsInQiOiJ0dW5uZWwiLCJzIjoic2VjcmV0In0=" if tunnel else None,
    )


def context(changes: Mapping[str, Any], workdir: Path) -> dict[str, Any]:
    sample = yaml.safe_load(paths.SAMPLE_CONFIG.read_text(encoding="utf-8"))
    config = workdir / paths.CONFIG_NAME
    config.write_text(yaml.safe_dump(_with_changes(sample, changes)), encoding="utf-8")
    cluster = load_cluster(config).context()
    ctx = build_context(cluster, _side(cluster), load_versions(paths.VERSIONS_FILE))
    charts = ctx["versions"].setdefault("charts", {})
    for name, chart in PENDING_CHARTS.items():
        charts.setdefault(name, chart)
    # The observability feature's charts, while versions.yaml lacks them.
    from tests.templates.observability import PENDING_CHARTS as OBSERVABILITY_CHARTS

    for name, chart in OBSERVABILITY_CHARTS.items():
        charts.setdefault(name, chart)
    return ctx


def template_root(workdir: Path) -> Path:
    root = workdir / "templates" / "config"
    for directory in TEMPLATE_DIRS:
        source = paths.TEMPLATE_TREE / directory
        if source.is_dir():
            shutil.copytree(source, root / directory)
    return root


def render(changes: Mapping[str, Any], workdir: Path) -> Tree:
    """The tree for the sample with `changes`; `workdir` must be a fresh directory."""
    workdir.mkdir(parents=True)
    root = template_root(workdir)
    return render_tree(context(changes, workdir), template_root=root).files


def objects(tree: Mapping[str, bytes]) -> Iterator[tuple[str, Doc]]:
    """Every Kubernetes object of the tree's YAML files (kustomizations excluded)."""
    for path, content in sorted(tree.items()):
        if path.endswith(".yaml") and posixpath.basename(path) != "kustomization.yaml":
            for doc in yaml.safe_load_all(content):
                if isinstance(doc, dict) and "kind" in doc:
                    yield path, doc


def of_kind(tree: Mapping[str, bytes], *kinds: str) -> list[Doc]:
    return [d for _, d in objects(tree) if d["kind"] in kinds]


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
)


def security_files(tree: Mapping[str, bytes]) -> Tree:
    """What the security flags own, plus every namespace.yaml (they carry the PSS labels)."""
    return {
        p: c
        for p, c in tree.items()
        if p.startswith(SECURITY_PATHS) or posixpath.basename(p) == "namespace.yaml"
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
        kustomization = yaml.safe_load(tree[path])
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
