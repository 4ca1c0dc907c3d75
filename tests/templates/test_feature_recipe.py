"""Adding a feature, done as a contributor would, in a throwaway copy of the templates.

A runtime-security feature (`features.runtime_security`) with its own namespace and one
chart: the app folder is a copy of trivy-system's, renamed. The schema key and the chart
pin live in memory only. Every place the feature touches is listed in PLACES (at most 12)
with the test that fails until it is done; the ones this file can show, it shows. Nothing
in templates/macros is touched: the namespace reaches Kyverno's excludes, the backup
schedule, the Flux alerts and the network-policies Kustomization through the published
`namespaces`.
"""

from __future__ import annotations

import copy
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import paths
from generator.errors import ConfigError
from generator.render.environment import RenderError
from generator.render.tree import render_tree
from tests import documents
from tests.features import FEATURES, all_features_changes
from tests.rendering import context_of, sample_with, write_config
from tests.templates.features import published

NAMESPACE = "runtime-security"
APP = "falco"
FLAG = "runtime_security"
README = Path(__file__).resolve().parents[2] / "README.md"

# Each place a new namespaced feature touches, and the test that fails until it is there.
PLACES = {
    "schemas/cluster.schema.json: features.runtime_security": "the loader rejects the key",
    "cluster.sample.yaml: the feature's block": "tests/config (sample agrees with schema)",
    "README.md: the features table row": "tests/test_readme.py",
    "README.md: the privileged table row (only if privileged)": "test_features.py (README)",
    "templates/versions.yaml: the chart pin": "tests/templates chart pin tests",
    "apps/<ns>/_when.j2": "test_features.py: leaves no trace when off",
    "apps/<ns>/_namespace.yaml.j2": "render error: namespace folder without it",
    "apps/<ns>/namespace.yaml.j2 + kustomization.yaml.j2": "test_features.py: classified",
    "apps/<ns>/<app>/ (ks.yaml.j2, app/)": "test_features.py: renders something",
    "apps/<ns>/network-policies/": "test_features.py: policed",
    "the feature's own test": "(review)",
}


def test_a_new_feature_takes_at_most_twelve_places() -> None:
    assert len(PLACES) <= 12


def _add_feature(root: Path, *, facts: bool = True, policies: bool = True) -> Path:
    """templates/config copied to `root` with the feature's folder added."""
    shutil.copytree(paths.TEMPLATE_TREE, root)
    source, target = root / "kubernetes/apps/trivy-system", root / f"kubernetes/apps/{NAMESPACE}"
    shutil.copytree(source, target)
    (target / "trivy-operator").rename(target / APP)
    for path in sorted(target.rglob("*")):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            text = text.replace("trivy-system", NAMESPACE).replace("trivy-operator", APP)
            path.write_text(text, encoding="utf-8")
    (target / "_when.j2").write_text(f"features.{FLAG}.enabled\n", encoding="utf-8")
    (target / "_namespace.yaml.j2").write_text(
        "---\norder: 95\nplatform: true\n"
        'privileged: "Falco\'s agent reads kernel events through eBPF on every node."\n',
        encoding="utf-8",
    )
    if not facts:
        (target / "_namespace.yaml.j2").unlink()
    if not policies:
        shutil.rmtree(target / "network-policies")
    return root


@pytest.fixture(scope="module")
def with_feature(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`_add_feature` with its facts and policies, once for the tests that only render it
    (nobody edits it): one copy of the templates, compiled once."""
    return _add_feature(tmp_path_factory.mktemp("recipe-templates") / "config")


@pytest.fixture(scope="module")
def base_context(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    config = write_config(sample_with(all_features_changes()), tmp_path_factory.mktemp("recipe"))
    return context_of(config)


def _context(base: dict[str, Any], enabled: bool) -> dict[str, Any]:
    """The schema key and the chart pin, in memory (with their defaults applied)."""
    context = copy.deepcopy(base)
    context["features"][FLAG] = {"enabled": enabled}
    context["versions"]["charts"][APP] = context["versions"]["charts"]["trivy-operator"]
    return context


def _docs(tree: dict[str, bytes]) -> Iterator[dict[str, Any]]:
    for path, content in tree.items():
        if path.endswith(".yaml") and ".sops." not in path:
            yield from (
                d for d in documents.load_all(content) if isinstance(d, dict) and "kind" in d
            )


def test_the_new_namespace_is_classified_policed_and_backed_up_through_published_data(
    with_feature: Path, base_context: dict[str, Any]
) -> None:
    root = with_feature
    context = _context(base_context, enabled=True)
    tree = render_tree(context, template_root=root).files
    [ns] = [n for n in published(context, root) if n["name"] == NAMESPACE]
    assert ns["platform"] and ns["policed"] and not ns["backed_up"]
    assert ns["pod_security_level"] == "privileged"
    assert ns["apps"] == [APP]
    docs = list(_docs(tree))
    [namespace] = [
        d for d in docs if d["kind"] == "Namespace" and d["metadata"]["name"] == NAMESPACE
    ]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert any(
        d["kind"] == "CiliumNetworkPolicy" and d["metadata"]["namespace"] == NAMESPACE for d in docs
    )
    aggregate = yaml.safe_load(
        tree["kubernetes/apps/kube-system/network-policies/app/kustomization.yaml"]
    )
    assert f"../../../{NAMESPACE}/network-policies" in aggregate["resources"]
    [daily] = [d for d in docs if d["kind"] == "Schedule" and d["metadata"]["name"] == "daily"]
    assert NAMESPACE in daily["spec"]["template"]["excludedNamespaces"]
    for policy in (d for d in docs if d["kind"] == "ClusterPolicy"):
        for rule in policy["spec"]["rules"]:
            assert NAMESPACE in rule["exclude"]["any"][0]["resources"]["namespaces"]
    for alert in (d for d in docs if d["kind"] == "Alert"):
        assert NAMESPACE in {s["namespace"] for s in alert["spec"]["eventSources"]}
    ks = yaml.safe_load(tree[f"kubernetes/apps/{NAMESPACE}/kustomization.yaml"])
    assert f"./{APP}/ks.yaml" in ks["resources"]


def test_off_the_new_feature_leaves_no_trace(
    with_feature: Path, base_context: dict[str, Any]
) -> None:
    root = with_feature
    tree = render_tree(_context(base_context, enabled=False), template_root=root).files
    assert [p for p, c in tree.items() if NAMESPACE in p or NAMESPACE.encode() in c] == []


def test_without_its_namespace_facts_the_render_fails_naming_the_file(
    tmp_path: Path, base_context: dict[str, Any]
) -> None:
    root = _add_feature(tmp_path / "config", facts=False)
    with pytest.raises(RenderError, match=r"_namespace\.yaml\.j2"):
        render_tree(_context(base_context, enabled=True), template_root=root)


def test_without_its_network_policies_the_namespace_is_published_unpoliced(
    tmp_path: Path, base_context: dict[str, Any]
) -> None:
    """test_features.py requires every namespace policed; this one would fail it."""
    root = _add_feature(tmp_path / "config", policies=False)
    context = _context(base_context, enabled=True)
    [ns] = [n for n in published(context, root) if n["name"] == NAMESPACE]
    assert not ns["policed"]


def test_the_schema_key_and_the_readme_row_are_forced(tmp_path: Path) -> None:
    config = write_config(sample_with({f"features.{FLAG}.enabled": True}), tmp_path)
    with pytest.raises(ConfigError, match=f"features.{FLAG}"):
        context_of(config)
    # Once in the schema it is in FEATURES, and tests/test_readme.py wants its row.
    assert FLAG not in FEATURES
    rows = re.findall(r"^\| `features\.([a-z_]+)` \|", README.read_text(), flags=re.M)
    assert FLAG not in rows
