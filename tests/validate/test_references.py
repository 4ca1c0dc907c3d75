"""References between rendered objects: each broken one is one error on the referrer."""

from __future__ import annotations

import pytest

from generator.validate.schemas import SchemaStore
from tests.validate.conftest import Decrypt, Tree, run

GATEWAYS = "kubernetes/apps/network/gateways/app"
ROUTE = "kubernetes/apps/flux-system/flux-instance/app/httproute.yaml"
VELERO = """---
apiVersion: velero.io/v1
kind: BackupStorageLocation
metadata:
  name: default
spec:
  provider: velero.io/aws
  objectStorage:
    bucket: backups
  credential:
    name: velero-s3
    key: cloud
---
apiVersion: velero.io/v1
kind: Schedule
metadata:
  name: daily
spec:
  schedule: "0 3 * * *"
  template:
    storageLocation: default
"""
ALERT = """---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata:
  name: failures
spec:
  providerRef:
    name: discord
  eventSources:
    - kind: Kustomization
      name: "*"
"""


@pytest.mark.parametrize(
    ("path", "old", "new", "message"),
    [
        (
            ROUTE,
            "sectionName: https",
            "sectionName: http",
            'spec.parentRefs[0].sectionName "http" is not a listener of Gateway envoy-external '
            "(listeners: https)",
        ),
        (
            ROUTE,
            "name: envoy-external",
            "name: envoy-internal",
            "spec.parentRefs[0] names Gateway envoy-internal in namespace network, "
            "which is not rendered",
        ),
        (
            f"{GATEWAYS}/gateway.yaml",
            "gatewayClassName: envoy",
            "gatewayClassName: cilium",
            "spec.gatewayClassName names GatewayClass cilium, which is not rendered",
        ),
        (
            f"{GATEWAYS}/gateway.yaml",
            "name: wildcard-tls",
            "name: other-tls",
            "spec.listeners[0].tls.certificateRefs[0] names Secret other-tls in namespace "
            "network, which is not rendered",
        ),
        (
            f"{GATEWAYS}/certificate.yaml",
            "name: self-signed",
            "name: letsencrypt",
            "spec.issuerRef names ClusterIssuer letsencrypt, which is not rendered",
        ),
    ],
)
def test_broken_reference(
    clean_tree: Tree,
    store: SchemaStore,
    decrypt: Decrypt,
    path: str,
    old: str,
    new: str,
    message: str,
) -> None:
    text = clean_tree[path].decode()
    assert old in text
    clean_tree[path] = text.replace(old, new, 1).encode()
    [error] = run(clean_tree, store, decrypt)
    assert (error.path, error.severity, error.message) == (path, "error", message)


def add(tree: Tree, name: str, content: str) -> str:
    path = f"{GATEWAYS}/{name}"
    tree[path] = content.encode()
    listing = f"{GATEWAYS}/kustomization.yaml"
    tree[listing] = tree[listing].replace(b"resources:\n", f"resources:\n  - ./{name}\n".encode())
    return path


def test_velero_references(clean_tree: Tree, store: SchemaStore, decrypt: Decrypt) -> None:
    path = add(clean_tree, "velero.yaml", VELERO)
    [error] = run(clean_tree, store, decrypt)
    assert (error.path, error.obj) == (path, "BackupStorageLocation/default")
    assert error.message == (
        "spec.credential names Secret velero-s3 in namespace network, which is not rendered"
    )
    clean_tree[path] = clean_tree[path].replace(b"storageLocation: default", b"storageLocation: x")
    found = run(clean_tree, store, decrypt)
    expected = "spec.template.storageLocation names BackupStorageLocation x in namespace network"
    assert [f.obj for f in found if f.message.startswith(expected)] == ["Schedule/daily"]


def test_alert_needs_its_provider(clean_tree: Tree, store: SchemaStore, decrypt: Decrypt) -> None:
    path = add(clean_tree, "alert.yaml", ALERT)
    [error] = run(clean_tree, store, decrypt)
    assert (error.path, error.obj) == (path, "Alert/failures")
    assert error.message.startswith("spec.providerRef names Provider discord in namespace network")
