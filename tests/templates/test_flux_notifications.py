"""features.flux_notifications: a Flux Provider (address in a sops Secret) and Alerts for
failed Kustomizations, HelmReleases and sources in every namespace holding Flux objects."""

from __future__ import annotations

import posixpath
from typing import Any

import pytest

from generator.validate.schemas import SchemaStore
from tests.templates.conftest import ContextFor, Render, Tree
from tests.templates.manifests import docs, find, of_kind, unlisted_or_dangling
from tests.templates.observability import observability_renderer, render_everything

APP = "kubernetes/apps/flux-system/flux-notifications"
ADDRESS = "https://discord.com/api/webhooks/42/SECRET-flux-webhook"
SOURCE_KINDS = {"GitRepository", "OCIRepository", "HelmRepository", "HelmChart", "Bucket"}


def enabled(provider: str = "discord", **more: Any) -> dict[str, Any]:
    return {
        "features.flux_notifications.enabled": True,
        "features.flux_notifications.provider": provider,
        "features.flux_notifications.address": ADDRESS,
        **more,
    }


@pytest.fixture(scope="module")
def render(tmp_path_factory: pytest.TempPathFactory, context_for: ContextFor) -> Render:
    return observability_renderer(tmp_path_factory, context_for)


def test_off_leaves_no_trace(render: Render) -> None:
    tree = render({})
    assert not [p for p in tree if p.startswith(APP)]
    assert not of_kind(tree, "Provider") and not of_kind(tree, "Alert")


@pytest.mark.parametrize("provider", ["discord", "slack", "msteams", "generic"])
def test_provider_reads_its_address_from_a_sops_secret(render: Render, provider: str) -> None:
    tree = render(enabled(provider))
    spec = find(tree, "Provider", "flux-notifications")["spec"]
    assert spec == {"type": provider, "secretRef": {"name": "flux-notifications"}}
    assert "address" not in spec
    secret = docs(tree, f"{APP}/app/secret.sops.yaml")[0]
    assert secret["metadata"]["name"] == "flux-notifications"
    assert secret["stringData"] == {"address": ADDRESS}
    leaks = [
        p for p, c in tree.items() if b"SECRET-" in c and ".sops." not in posixpath.basename(p)
    ]
    assert leaks == []


@pytest.fixture(scope="module")
def everything(tmp_path_factory: pytest.TempPathFactory, context_for: ContextFor) -> Tree:
    """All of kubernetes/ and docs/ with notifications and every feature that adds a namespace."""
    return render_everything(tmp_path_factory, context_for, enabled())


def test_alerts_cover_failures_of_every_kind_in_every_namespace(everything: Tree) -> None:
    tree = everything
    namespaces = {
        p.split("/")[2]
        for p in tree
        if p.startswith("kubernetes/apps/") and p.endswith("/namespace.yaml")
    }
    assert {"observability", "kyverno", "velero"} <= namespaces
    expected = {
        "failed-kustomizations": {"Kustomization"},
        "failed-helmreleases": {"HelmRelease"},
        "failed-sources": SOURCE_KINDS,
    }
    for name, kinds in expected.items():
        spec = find(tree, "Alert", name)["spec"]
        assert spec["eventSeverity"] == "error"
        assert spec["providerRef"] == {"name": "flux-notifications"}
        watched = {(s["kind"], s["namespace"]) for s in spec["eventSources"]}
        assert all(s["name"] == "*" for s in spec["eventSources"])
        missing = {(k, ns) for k in kinds for ns in namespaces} - watched
        assert not missing, f"{name} misses {sorted(missing)}: update flux_namespaces()"


def test_app_is_wired_into_flux_system(render: Render) -> None:
    tree = render(enabled())
    ks = find(tree, "Kustomization", "flux-notifications")["spec"]
    assert ks["dependsOn"] == [{"name": "flux-instance"}]
    assert ks["path"] == f"./{APP}/app"
    assert unlisted_or_dangling(tree) == []


def test_resources_validate(render: Render, schemas: SchemaStore) -> None:
    tree: Tree = render(enabled())
    checked = 0
    for kind in ("Provider", "Alert", "Kustomization"):
        for path, doc in of_kind(tree, kind):
            if path.startswith(APP):
                result = schemas.check(doc)
                assert result.found and not result.errors, f"{path}: {result.errors}"
                checked += 1
    assert checked == 5
