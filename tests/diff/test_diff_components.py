"""Grouping a diff's files by component of the repository."""

from __future__ import annotations

import pytest

from generator.diff.components import ROOT, by_component, component


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("kubernetes/apps/default/echo/app/helmrelease.yaml", "kubernetes/apps/default/echo/"),
        ("kubernetes/apps/default/echo/ks.yaml", "kubernetes/apps/default/echo/"),
        ("kubernetes/apps/default/kustomization.yaml", "kubernetes/apps/default/"),
        ("kubernetes/apps/kustomization.yaml", "kubernetes/apps/"),
        ("kubernetes/flux/cluster/ks.yaml", "kubernetes/flux/"),
        ("kubernetes/components/sops/cluster-secrets.sops.yaml", "kubernetes/components/"),
        ("talos/patches/global/machine-time.yaml", "talos/"),
        ("bootstrap/helmfile.d/00-crds.yaml", "bootstrap/"),
        (".github/workflows/render-diff.yaml", ".github/"),
        ("docs/runbooks/restore.md", "docs/"),
        (".sops.yaml", ROOT),
        ("Taskfile.yaml", ROOT),
    ],
)
def test_component(path: str, expected: str) -> None:
    assert component(path) == expected


def test_groups_in_path_order_with_the_root_last() -> None:
    groups = by_component(
        [".sops.yaml", "talos/talconfig.yaml", "kubernetes/apps/a/b/x.yaml", ".github/w.yaml"]
    )
    assert list(groups) == [".github/", "kubernetes/apps/a/b/", "talos/", ROOT]
    assert groups[ROOT] == [".sops.yaml"]
