"""Every HelmRelease gets one set of install/upgrade defaults (CRDs CreateReplace, retries,
rollback remediation, cleanupOnFail) from the root Flux Kustomization.

Flux applies a Kustomization's `spec.patches` to the objects that Kustomization applies.
The root (`cluster-apps`) applies the child Kustomizations, so the HelmRelease patch has
to travel as a patch the children carry. The test does what kustomize-controller does,
with the real kustomize (`kubectl kustomize`): build kubernetes/apps with the root's
patches, then build each child's path with the patches the child now carries.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import paths
from generator.command import run
from generator.validate.kubectl import kubectl_available, materialize
from generator.validate.schemas import SchemaStore
from tests import documents
from tests.rendering import render_context
from tests.templates.conftest import ContextFor, Tree
from tests.templates.manifests import dig, docs
from tests.templates.test_rendered_trees_validate import all_on

ROOT_KS = "kubernetes/flux/cluster/ks.yaml"
DEFAULTS = {
    "install.crds": "CreateReplace",
    "install.remediation.retries": 3,
    "upgrade.crds": "CreateReplace",
    "upgrade.cleanupOnFail": True,
    "upgrade.remediation.retries": 3,
    "upgrade.remediation.strategy": "rollback",
    "rollback.cleanupOnFail": True,
}

pytestmark = pytest.mark.skipif(not kubectl_available(), reason="kubectl is not installed")


def _kustomize(directory: Path) -> list[dict[str, Any]]:
    out = run(["kubectl", "kustomize", directory], timeout=60.0).stdout
    return [d for d in documents.load_all(out) if d is not None]


def _write_kustomization(directory: Path, resources: list[str], patches: Any) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    body = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
        "patches": patches or [],
    }
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(body), encoding="utf-8")


def released_as_flux_applies_them(tree: Tree, base: Path) -> dict[str, dict[str, Any]]:
    """{HelmRelease name: object} as the child Kustomizations apply them, after the root's
    and the children's patches."""
    materialize(tree, base)
    root = docs(tree, ROOT_KS)[0]
    apps = base / root["spec"]["path"]
    # kustomize-controller generates kubernetes/apps/kustomization.yaml (there is none):
    # every directory below with its own kustomization.yaml, plus the root's patches.
    namespaces = sorted(p.name for p in apps.iterdir() if (p / "kustomization.yaml").is_file())
    _write_kustomization(apps, namespaces, root["spec"].get("patches"))
    children = [d for d in _kustomize(apps) if d["kind"] == "Kustomization"]
    assert children, "the root applies no child Kustomization"
    for child in children:
        wrapper = base / "_flux" / child["metadata"]["name"]
        target = posixpath.relpath(child["spec"]["path"], f"_flux/{child['metadata']['name']}")
        _write_kustomization(wrapper, [target], child["spec"].get("patches"))
    # One build of every child (each with its own patches) instead of a kubectl per child;
    # kustomize also refuses two children that apply the same object, as Flux would.
    _write_kustomization(base / "_flux", [c["metadata"]["name"] for c in children], None)
    return {
        doc["metadata"]["name"]: doc
        for doc in _kustomize(base / "_flux")
        if doc["kind"] == "HelmRelease"
    }


def _without_defaults(release: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in release["spec"].items() if k not in ("install", "upgrade", "rollback")}


@pytest.mark.parametrize("stack", ["kube-prometheus-stack", "victoria-metrics"])
def test_every_helmrelease_gets_the_defaults(
    context_for: ContextFor, schemas: SchemaStore, tmp_path: Path, stack: str
) -> None:
    tree = render_context(
        context_for({**all_on(stack, "enforce"), "ingress.mode": "cloudflare-tunnel"}),
        paths.TEMPLATE_TREE,
    ).files
    rendered = {
        d["metadata"]["name"]: d
        for path in tree
        if path.startswith("kubernetes/") and path.endswith("/helmrelease.yaml")
        for d in docs(tree, path)
    }
    released = released_as_flux_applies_them(tree, tmp_path)
    # Every HelmRelease in the tree is applied by a child Kustomization, and patched there.
    assert set(released) == set(rendered)
    for name, release in sorted(released.items()):
        got = {key: dig(release["spec"], key) for key in DEFAULTS}
        assert got == DEFAULTS, name
        # The patch adds the defaults and changes nothing else (chart, values).
        assert _without_defaults(release) == _without_defaults(rendered[name]), name
        result = schemas.check(release)
        assert result.found and not result.errors, name


def test_the_patch_reaches_every_child(context_for: ContextFor, tmp_path: Path) -> None:
    """No label selector or name on the target: a child added later is patched too."""
    tree = render_context(context_for({}), paths.TEMPLATE_TREE).files
    outer = docs(tree, ROOT_KS)[0]["spec"]["patches"]
    carriers = [p for p in outer if "HelmRelease" in p["patch"]]
    assert len(carriers) == 1
    assert carriers[0]["target"] == {
        "group": "kustomize.toolkit.fluxcd.io",
        "kind": "Kustomization",
    }
    released = released_as_flux_applies_them(tree, tmp_path)
    assert "cilium" in released and "flux-operator" in released
