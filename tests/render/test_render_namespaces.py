"""The published `namespaces` and the folder guards, on small template trees in tmp_path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from generator.render.environment import RenderError
from generator.render.overrides.files import find_overrides
from generator.render.tree import render_tree

CONTEXT: dict[str, Any] = {
    "features": {
        "monitoring": {"enabled": False},
        "pod_security": {"enabled": True, "level": "restricted"},
        "backups": {"enabled": True, "excluded_namespaces": ["scratch"]},
        "network_policies": {"enabled": True},
    },
}
LIST = "#% for ns in namespaces %##{ ns.name }#:#{ ns.pod_security_level }#:#{ ns.apps | join(',') }#:#{ ns.policed }##{ ' ' }##% endfor %#\n"  # noqa: E501


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    root = tmp_path / "templates"
    (root / "config").mkdir(parents=True)
    (root / "macros").mkdir()
    return root


def put(root: Path, rel: str, text: str) -> None:
    path = root / "config" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def namespace(root: Path, name: str, facts: str) -> None:
    put(root, f"kubernetes/apps/{name}/_namespace.yaml.j2", facts)
    put(root, f"kubernetes/apps/{name}/namespace.yaml.j2", f"name: {name}\n")


def render(templates: Path, context: dict[str, Any] = CONTEXT) -> dict[str, bytes]:
    return render_tree(context, templates / "config", templates).files


def test_namespaces_are_published_in_order_with_their_facts(templates: Path) -> None:
    namespace(templates, "zeta", "order: 1\nplatform: true\nprivileged: needs the host\n")
    namespace(templates, "alpha", "order: 2\nplatform: false\n")
    namespace(templates, "metrics", "order: 0\nplatform: true\n")
    put(templates, "kubernetes/apps/metrics/_when.j2", "features.monitoring.enabled\n")
    put(templates, "kubernetes/apps/alpha/web/ks.yaml.j2", "name: web\n")
    put(templates, "kubernetes/apps/alpha/network-policies/p.yaml.j2", "p: 1\n")
    put(templates, "_folder_guards.yaml", "network-policies: features.network_policies.enabled\n")
    put(templates, "list.txt.j2", LIST)

    files = render(templates)

    assert files["list.txt"] == b"zeta:privileged::False alpha:restricted:web:True "
    assert "kubernetes/apps/metrics/namespace.yaml" not in files
    assert not any("_namespace" in p or "_folder_guards" in p for p in files)


def test_a_folder_guard_by_name_removes_every_folder_of_that_name(templates: Path) -> None:
    namespace(templates, "alpha", "order: 1\nplatform: false\n")
    put(templates, "kubernetes/apps/alpha/network-policies/p.yaml.j2", "p: 1\n")
    put(templates, "docs/beta/network-policies/p.yaml", "p: 2\n")
    put(templates, "_folder_guards.yaml", "network-policies: features.network_policies.enabled\n")
    off: dict[str, Any] = {**CONTEXT, "features": {**CONTEXT["features"]}}
    off["features"]["network_policies"] = {"enabled": False}

    assert "kubernetes/apps/alpha/network-policies/p.yaml" in render(templates)
    assert not any("network-policies" in p for p in render(templates, off))


def test_a_namespace_folder_without_its_facts_is_an_error(templates: Path) -> None:
    put(templates, "kubernetes/apps/alpha/namespace.yaml.j2", "name: alpha\n")

    with pytest.raises(RenderError) as caught:
        render(templates)

    assert "kubernetes/apps/alpha" in str(caught.value)
    assert "_namespace.yaml.j2" in str(caught.value)


@pytest.mark.parametrize(
    "facts,message",
    [
        ("order: 1\nplatform: true\nscraped: true\n", "unknown key scraped"),
        ("order: first\nplatform: true\n", "order must be a int"),
        ("- order\n", "must be a YAML mapping"),
        ("order: 1\nplatform: #{ nothing.here }#\n", "UndefinedError"),
    ],
)
def test_bad_facts_are_errors_naming_the_file(templates: Path, facts: str, message: str) -> None:
    namespace(templates, "alpha", facts)

    with pytest.raises(RenderError) as caught:
        render(templates)

    assert message in str(caught.value)
    assert "kubernetes/apps/alpha/_namespace.yaml.j2" in str(caught.value)


def test_a_typo_in_a_folder_guard_is_an_error(templates: Path) -> None:
    put(templates, "x/network-policies/p.yaml", "p: 1\n")
    put(templates, "_folder_guards.yaml", "network-policies: features.network_polices.enabled\n")

    with pytest.raises(RenderError, match="network_polices"):
        render(templates)


def test_a_components_policies_are_published_under_its_own_guard(templates: Path) -> None:
    namespace(templates, "alpha", "order: 1\nplatform: false\n")
    put(templates, "kubernetes/apps/alpha/network-policies/p.yaml", "p: 1\n")
    put(templates, "kubernetes/apps/alpha/web/network-policies/p.yaml", "p: 2\n")
    put(templates, "kubernetes/apps/alpha/metrics/_when.j2", "features.monitoring.enabled\n")
    put(templates, "kubernetes/apps/alpha/metrics/network-policies/p.yaml", "p: 3\n")
    put(templates, "list.txt.j2", "#{ namespaces[0].network_policies | join(' ') }#")

    assert render(templates)["list.txt"] == b"alpha/network-policies alpha/web/network-policies"


def test_an_app_folder_an_override_adds_is_published_unless_its_guard_is_off(
    templates: Path, tmp_path: Path
) -> None:
    namespace(templates, "alpha", "order: 1\nplatform: false\n")
    namespace(templates, "metrics", "order: 0\nplatform: true\n")
    put(templates, "kubernetes/apps/metrics/_when.j2", "features.monitoring.enabled\n")
    put(templates, "kubernetes/apps/alpha/web/ks.yaml.j2", "name: web\n")
    put(templates, "list.txt.j2", LIST)
    repo = tmp_path / "repo"
    for rel in (
        "kubernetes/apps/alpha/mine/ks.yaml.j2",  # rendered: adds app `mine`
        "kubernetes/apps/alpha/copied/ks.yaml",  # copied as it is: adds `copied`
        "kubernetes/apps/alpha/notes/app/ks.yaml",  # not an app folder's ks.yaml
        "kubernetes/apps/metrics/off/ks.yaml",  # its namespace's guard is off
    ):
        (repo / "overrides" / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / "overrides" / rel).write_text("---\nname: x\n")

    files = render_tree(CONTEXT, templates / "config", templates, find_overrides(repo)).files

    assert files["list.txt"] == b"alpha:restricted:copied,mine,web:False "
