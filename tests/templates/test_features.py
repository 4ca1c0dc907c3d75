"""Every feature of the schema (tests/features.py) against the full template tree: it renders
something, leaves no trace when off, and every namespace the features add is classified in
its `_namespace.yaml.j2`, policed, labelled, skipped or taken by backups, watched by Flux
alerts and documented, all through the data the renderer publishes (`namespaces`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from generator import paths
from tests import documents
from tests.features import FEATURES, all_features_changes
from tests.rendering import context_of, render_context, sample_with, write_config
from tests.templates.features import guarded_folders, published, without

README = Path(__file__).resolve().parents[2] / "README.md"
Tree = dict[str, bytes]
Render = Callable[[dict[str, Any]], tuple[Tree, dict[str, Any]]]


@pytest.fixture(scope="module")
def render(tmp_path_factory: pytest.TempPathFactory) -> Render:
    """(tree, context) of the sample with dotted `changes`, cached for the module."""
    cache: dict[str, tuple[Tree, dict[str, Any]]] = {}

    def _render(changes: dict[str, Any]) -> tuple[Tree, dict[str, Any]]:
        key = repr(sorted(changes.items()))
        if key not in cache:
            config = write_config(sample_with(changes), tmp_path_factory.mktemp("features"))
            context = context_of(config)
            cache[key] = (render_context(context, paths.TEMPLATE_TREE).files, context)
        return cache[key]

    return _render


def objects(tree: Mapping[str, bytes]) -> Iterator[dict[str, Any]]:
    for path, content in tree.items():
        if path.endswith(".yaml") and ".sops." not in path:
            for doc in documents.load_all(content):
                if isinstance(doc, dict) and "kind" in doc:
                    yield doc


@pytest.mark.parametrize("feature", FEATURES)
def test_a_feature_renders_something_and_leaves_no_trace_when_off(
    render: Render, feature: str
) -> None:
    on, _ = render(all_features_changes())
    off, context = render(without(feature))
    assert on != off, f"features.{feature} renders nothing: the tree is the same with it off"
    folders = tuple(guarded_folders(feature))
    assert [p for p in off if p.startswith(folders)] == [], f"features.{feature} off"
    gone = {f.split("/")[2] for f in folders if re.fullmatch(r"kubernetes/apps/[^/]+/", f)}
    assert gone.isdisjoint(ns["name"] for ns in published(context))


def test_every_namespace_is_classified_policed_labelled_and_backed_up_as_published(
    render: Render,
) -> None:
    tree, context = render(all_features_changes())
    namespaces = published(context)
    names = [ns["name"] for ns in namespaces]
    rendered = {
        p.split("/")[2] for p in tree if re.fullmatch(r"kubernetes/apps/[^/]+/namespace\.yaml", p)
    }
    assert sorted(names) == sorted(rendered)
    docs = list(objects(tree))
    policed = {d["metadata"]["namespace"] for d in docs if d["kind"] == "CiliumNetworkPolicy"}
    labels = {
        d["metadata"]["name"]: d["metadata"].get("labels", {})
        for d in docs
        if d["kind"] == "Namespace"
    }
    for ns in namespaces:
        assert ns["policed"] and ns["name"] in policed, f"{ns['name']} has no network policy"
        level = labels[ns["name"]]["pod-security.kubernetes.io/enforce"]
        assert level == ns["pod_security_level"] != ""
    platform = [ns["name"] for ns in namespaces if ns["platform"]]
    [daily] = [d for d in docs if d["kind"] == "Schedule" and d["metadata"]["name"] == "daily"]
    excluded = context["features"]["backups"]["excluded_namespaces"]
    assert daily["spec"]["template"]["excludedNamespaces"] == list(
        dict.fromkeys(platform + excluded)
    )
    assert {ns["name"] for ns in namespaces if ns["backed_up"]}.isdisjoint(
        daily["spec"]["template"]["excludedNamespaces"]
    )
    kyverno = [d for d in docs if d["kind"] == "ClusterPolicy"]
    assert kyverno
    for policy in kyverno:
        for rule in policy["spec"]["rules"]:
            [exclude] = rule["exclude"]["any"]
            assert exclude["resources"]["namespaces"] == platform
    alerts = [d for d in docs if d["kind"] == "Alert"]
    assert alerts
    for alert in alerts:
        assert {s["namespace"] for s in alert["spec"]["eventSources"]} == set(names)


def test_the_readme_says_why_each_privileged_namespace_is(render: Render) -> None:
    _, context = render({**all_features_changes(), "spegel.enabled": True})
    privileged = {ns["name"] for ns in published(context) if ns["privileged"]}
    table = re.findall(r"^\| `([a-z0-9-]+)` \| .+ \|$", README.read_text(), flags=re.M)
    section = README.read_text().split("| namespace | why `privileged` |", 1)[1].split("\n\n")[0]
    rows = set(re.findall(r"^\| `([a-z0-9-]+)` \|", section, flags=re.M))
    assert table and rows == privileged
