"""What Flux builds and applies: patch targets with set-based selectors, `spec.components`,
and objects nothing applies (which must neither satisfy references nor go unnoticed)."""

from __future__ import annotations

import pytest

from generator.validate.schemas import SchemaStore
from generator.validate.selectors import Requirement, parse_selector, selector_matches
from tests.validate.conftest import ECHO_APP, ECHO_KS, Decrypt, Tree, edit, run

CLUSTER_KS = "kubernetes/flux/cluster/ks.yaml"
OPT_OUT = "substitution.flux.home.arpa/disabled"


def add_resource(tree: Tree, directory: str, name: str, content: str) -> None:
    tree[f"{directory}/{name}"] = content.encode()
    edit(tree, f"{directory}/kustomization.yaml", "resources:\n", f"resources:\n  - ./{name}\n")


def configmap(name: str, data: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n{data}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a=b", [Requirement("a", "in", frozenset({"b"}))]),
        (
            "a==b, c!=d",
            [Requirement("a", "in", frozenset({"b"})), Requirement("c", "notin", frozenset({"d"}))],
        ),
        (f"{OPT_OUT} notin (true)", [Requirement(OPT_OUT, "notin", frozenset({"true"}))]),
        (
            "tier in (web, db),!legacy,app",
            [
                Requirement("tier", "in", frozenset({"web", "db"})),
                Requirement("legacy", "!exists"),
                Requirement("app", "exists"),
            ],
        ),
    ],
)
def test_parse_selector(text: str, expected: list[Requirement]) -> None:
    assert parse_selector(text) == expected


@pytest.mark.parametrize("text", ["a in b", "a=b c", "(", "a=b,,c"])
def test_parse_selector_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="cannot read label selector"):
        parse_selector(text)


def test_selector_semantics() -> None:
    # notin and != also select objects without the label, as Kubernetes does.
    assert selector_matches("x notin (true)", {})
    assert not selector_matches("x notin (true)", {"x": "true"})
    assert selector_matches("x!=a", {}) and not selector_matches("x!=a", {"x": "a"})
    assert selector_matches("x in (a, b),!y", {"x": "b"})
    assert not selector_matches("x in (a, b),!y", {"x": "b", "y": ""})
    assert selector_matches("x", {"x": ""}) and not selector_matches("x", {})


def opt_out_tree(tree: Tree, *, label: bool) -> None:
    """cluster-apps patches substituteFrom into children except those labelled to opt out;
    echo substitutes from its own ConfigMap."""
    edit(
        tree,
        CLUSTER_KS,
        "        kind: Kustomization\n  postBuild",
        f"        kind: Kustomization\n        labelSelector: {OPT_OUT} notin (true)\n  postBuild",
    )
    labels = f'  labels:\n    {OPT_OUT}: "true"\n' if label else ""
    edit(tree, ECHO_KS, "  name: echo\n", f"  name: echo\n{labels}")
    edit(
        tree,
        ECHO_KS,
        "  prune: true\n",
        "  postBuild:\n    substituteFrom:\n      - kind: ConfigMap\n        name: echo-vars\n"
        "  prune: true\n",
    )
    vars_map = configmap("echo-vars", "  HOST: echo.lan\n")
    add_resource(tree, "kubernetes/apps/default", "echo-vars.yaml", vars_map)
    add_resource(tree, ECHO_APP, "settings.yaml", configmap("echo-settings", "  host: ${HOST}\n"))


def test_labelled_child_keeps_its_own_substitution(
    clean_tree: Tree, store: SchemaStore, decrypt: Decrypt
) -> None:
    labelled, unlabelled = dict(clean_tree), dict(clean_tree)
    opt_out_tree(labelled, label=True)
    assert run(labelled, store, decrypt) == []
    # Without the label the parent's patch replaces echo's list: HOST is gone.
    opt_out_tree(unlabelled, label=False)
    [warning] = run(unlabelled, store, decrypt)
    assert warning.path == f"{ECHO_APP}/settings.yaml"
    assert "HOST not defined by Kustomization echo" in warning.message


def test_unreadable_patch_selector_is_an_error(
    clean_tree: Tree, store: SchemaStore, decrypt: Decrypt
) -> None:
    edit(
        clean_tree,
        CLUSTER_KS,
        "        kind: Kustomization\n  postBuild",
        "        kind: Kustomization\n        labelSelector: tier in web\n  postBuild",
    )
    found = [f for f in run(clean_tree, store, decrypt) if f.path == CLUSTER_KS]
    # Reported once on the parent, not once per child.
    assert [(f.obj, f.severity) for f in found] == [("Kustomization/cluster-apps", "error")]
    assert 'spec.patches[0].target: cannot read label selector "tier in web"' in found[0].message


def test_flux_spec_components_are_applied(
    clean_tree: Tree, store: SchemaStore, decrypt: Decrypt
) -> None:
    extra = "kubernetes/components/extra"
    clean_tree[f"{extra}/kustomization.yaml"] = (
        b"apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
        b"resources:\n  - ./settings.yaml\n"
    )
    clean_tree[f"{extra}/settings.yaml"] = configmap("extra", "  a: b\n").encode()
    [unused] = run(clean_tree, store, decrypt)
    assert (unused.path, unused.severity) == (f"{extra}/settings.yaml", "warning")
    assert unused.message == (
        f"never applied: {extra}/kustomization.yaml lists it, but nothing includes {extra}"
    )
    # spec.components is relative to spec.path.
    components = "  components:\n    - ../../../../components/extra\n"
    edit(clean_tree, ECHO_KS, "spec:\n", f"spec:\n{components}")
    assert run(clean_tree, store, decrypt) == []
    edit(clean_tree, ECHO_KS, "components/extra", "components/extro")
    [err] = run(clean_tree, store, decrypt)[:1]
    assert (err.path, err.severity) == (ECHO_KS, "error")
    assert 'spec.components[0] "../../../../components/extro": does not exist' in err.message


def test_objects_nothing_applies_satisfy_no_reference(
    clean_tree: Tree, store: SchemaStore, decrypt: Decrypt
) -> None:
    component = "kubernetes/components/common/kustomization.yaml"
    edit(clean_tree, component, "  - ./cluster-secrets.sops.yaml\n", "  []\n")
    edit(clean_tree, component, "resources:\n  []", "resources: []")
    found = run(clean_tree, store, decrypt)
    by_path = {f.path: f for f in found}
    secrets = "kubernetes/components/common/cluster-secrets.sops.yaml"
    assert by_path[secrets].severity == "warning"
    assert f"never applied: {component} does not list it" in by_path[secrets].message
    assert any(
        f.path == CLUSTER_KS and "substituteFrom[0] names Secret cluster-secrets" in f.message
        for f in found
    )


def test_unlisted_manifest_is_never_applied(
    clean_tree: Tree, store: SchemaStore, decrypt: Decrypt
) -> None:
    clean_tree[f"{ECHO_APP}/forgotten.yaml"] = configmap("forgotten", "  a: b\n").encode()
    [warning] = run(clean_tree, store, decrypt)
    assert (warning.path, warning.obj) == (f"{ECHO_APP}/forgotten.yaml", "ConfigMap/forgotten")
    assert warning.message == f"never applied: {ECHO_APP}/kustomization.yaml does not list it"
