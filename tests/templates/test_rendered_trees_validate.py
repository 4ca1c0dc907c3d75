"""`validate_tree` on whole real renders: every shape the core tests use plus feature-heavy
configurations must come out with no finding at all (no false positives), and the same
renders with one real fault injected must not (no misses).

Renders use the full template tree, as `clustergen configure` does.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from generator.validate import validate_tree
from generator.validate.documents import Finding
from generator.validate.kubectl import kubectl_available
from generator.validate.report import format_report
from generator.validate.schemas import SchemaStore
from tests.features import FEATURES
from tests.rendering import render_sample
from tests.shared import CRD_SCHEMA_LOCATION
from tests.templates.conftest import ContextFor, Tree
from tests.templates.features import guarded_folders
from tests.templates.test_core_apps import VARIANTS as CORE_VARIANTS

# Whole-tree renders and validation (kubectl for two of them).
pytestmark = pytest.mark.slow

S3 = {
    "endpoint": "https://s3.example.com:9000",
    "bucket": "cluster-backups",
    "region": "eu-west-1",
    "access_key": "fake-access-key",
    "secret_key": "fake-secret-key",
}
RECEIVERS = [
    {"name": "discord", "type": "discord", "url": "https://discord.com/api/webhooks/0/x"},
    {"name": "slack", "type": "slack", "url": "https://hooks.slack.com/services/T/B/x"},
    {"name": "hook", "type": "webhook", "url": "https://hooks.example.com/alert"},
    {"name": "ntfy", "type": "ntfy", "url": "https://ntfy.sh/cluster", "token": "tk_fake"},
    {"name": "phone", "type": "pushover", "user_key": "fake-user", "token": "fake-token"},
    {
        "name": "mail",
        "type": "email",
        "address": "ops@example.com",
        "smarthost": "smtp.example.com:587",
        "from": "alertmanager@example.com",
        "username": "alertmanager@example.com",
        "password": "fake-password",
    },
]


def monitoring(stack: str) -> dict[str, Any]:
    return {
        "features.monitoring": {
            "enabled": True,
            "stack": stack,
            "retention": "30d",
            "storage_size": "50Gi",
            "storage_class": "local-path",
            "alerting": {"receivers": RECEIVERS, "heartbeat_url": "https://hc-ping.com/fake"},
            "logs": {"enabled": True},
            "tracing": {"enabled": True},
        }
    }


def security(mode: str) -> dict[str, Any]:
    return {
        "features.network_policies": {"enabled": True, "mode": mode},
        "features.policy_engine.enabled": True,
        "features.policy_engine.mode": mode,
        "features.resource_governance.enabled": True,
        "features.vulnerability_scanning.enabled": True,
    }


BACKUPS = {"features.backups.enabled": True, "features.backups.s3": S3}
NOTIFICATIONS = {
    "features.flux_notifications": {
        "enabled": True,
        "provider": "discord",
        "address": "https://discord.com/api/webhooks/0/x",
    }
}


def all_on(stack: str, mode: str) -> dict[str, Any]:
    return {**monitoring(stack), **security(mode), **BACKUPS, **NOTIFICATIONS}


FEATURE_VARIANTS: dict[str, dict[str, Any]] = {
    "monitoring-kps": monitoring("kube-prometheus-stack"),
    "monitoring-vm": monitoring("victoria-metrics"),
    "security-audit": security("audit"),
    "security-enforce": security("enforce"),
    "backups": BACKUPS,
    "notifications": NOTIFICATIONS,
    "all-on-kps-enforce": all_on("kube-prometheus-stack", "enforce"),
    "all-on-vm-audit": all_on("victoria-metrics", "audit"),
    "all-on-single-node": {**all_on("kube-prometheus-stack", "enforce"), "nodes": "single"},
}
# kubectl kustomize over every root takes seconds: only for the barest and the fullest tree.
WITH_KUBECTL = frozenset({"sample", "all-on-kps-enforce"})


@pytest.fixture(scope="module")
def render_full(context_for: ContextFor, sample: dict[str, Any]) -> Callable[[str], Tree]:
    """The whole tree (every template) of a named variant, rendered once per process."""

    def _render(name: str) -> Tree:
        changes = (
            CORE_VARIANTS[name](sample) if name in CORE_VARIANTS else dict(FEATURE_VARIANTS[name])
        )
        return render_sample(changes)

    return _render


def validate(tree: Tree, store: SchemaStore, *, kubectl: bool = False) -> list[Finding]:
    return validate_tree(
        tree,
        schema_locations=[CRD_SCHEMA_LOCATION],
        secrets_encrypted=False,
        kubectl=kubectl,
        store=store,
    )


@pytest.mark.parametrize("name", sorted(CORE_VARIANTS) + sorted(FEATURE_VARIANTS))
def test_real_render_validates_clean(
    name: str, render_full: Callable[[str], Tree], schemas: SchemaStore
) -> None:
    tree = render_full(name)
    # What each feature turned on adds (its guarded folders), so a variant that silently
    # renders without it cannot pass.
    for feature in FEATURES:
        folders = tuple(guarded_folders(feature))
        if folders and _turns_on(FEATURE_VARIANTS.get(name, {}), feature):
            assert any(p.startswith(folders) for p in tree), f"{feature} rendered none of {folders}"
    use_kubectl = name in WITH_KUBECTL and kubectl_available()
    findings = validate(tree, schemas, kubectl=use_kubectl)
    assert findings == [], f"{name}:\n{format_report(findings)}"
    if name in WITH_KUBECTL and not use_kubectl:
        pytest.skip("kubectl not on PATH: the kustomize builds of this render were not checked")


def _turns_on(changes: dict[str, Any], feature: str) -> bool:
    key = f"features.{feature}"
    block = changes.get(key)
    return changes.get(f"{key}.enabled") is True or (
        isinstance(block, dict) and block.get("enabled") is True
    )


def test_every_rendered_object_kind_has_a_schema(
    render_full: Callable[[str], Tree], schemas: SchemaStore
) -> None:
    """Unknown kinds would only be warnings: in strict mode the fullest tree still passes."""
    tree = render_full("all-on-kps-enforce")
    findings = validate_tree(
        tree, strict=True, secrets_encrypted=False, kubectl=False, store=schemas
    )
    assert findings == [], format_report(findings)


@pytest.mark.parametrize("name", ["sample", "all-on-kps-enforce", "all-on-vm-audit"])
def test_without_crd_schemas_the_flux_spec_checks_find_nothing_either(
    name: str, render_full: Callable[[str], Tree], tmp_path: Path
) -> None:
    """Offline, the Flux kinds are checked by validate/flux_specs alone: no false positive."""
    store = SchemaStore([str(tmp_path)])  # a location without any CRD schema
    findings = validate_tree(render_full(name), secrets_encrypted=False, kubectl=False, store=store)
    errors = [f for f in findings if f.severity == "error"]
    assert errors == [], format_report(errors)
    assert findings, "no warning about the kinds left unchecked: were schemas found?"


def _edit(tree: Tree, path: str, old: str, new: str) -> Tree:
    text = tree[path].decode()
    assert old in text, f"{old!r} not in {path}"
    return {**tree, path: text.replace(old, new, 1).encode()}


def test_a_real_fault_in_a_real_render_is_found(
    render_full: Callable[[str], Tree], schemas: SchemaStore
) -> None:
    tree = render_full("sample")
    path = "kubernetes/apps/default/echo/ks.yaml"
    broken = _edit(
        tree, path, "name: flux-system\n    namespace", "name: flux-systen\n    namespace"
    )
    [error] = [f for f in validate(broken, schemas) if f.severity == "error"]
    assert (error.path, error.obj) == (path, "Kustomization/echo")
    assert "spec.sourceRef GitRepository flux-systen in namespace flux-system" in error.message


def test_cluster_secrets_reach_every_namespace_through_the_component(
    render_full: Callable[[str], Tree], schemas: SchemaStore
) -> None:
    """Without components/sops, substituteFrom and ${SECRET_DOMAIN} have nothing to read."""
    tree = render_full("sample")
    component = "kubernetes/components/sops/kustomization.yaml"
    broken = _edit(tree, component, "cluster-secrets.sops.yaml", "cluster-secretz.sops.yaml")
    found = validate(broken, schemas)
    assert any("cluster-secretz.sops.yaml" in f.message for f in found)
    assert any("names Secret cluster-secrets" in f.message for f in found)
