"""validate_tree on the clean fixture and on one injected fault at a time."""

from __future__ import annotations

import pytest

from generator.validate.documents import Finding
from generator.validate.kubectl import kubectl_available
from generator.validate.schemas import SchemaStore
from tests.validate.conftest import ECHO_APP, ECHO_KS, Decrypt, Tree, edit, run

INSTANCE_KS = "kubernetes/apps/flux-system/flux-instance/ks.yaml"
INSTANCE_APP = "kubernetes/apps/flux-system/flux-instance/app"
ROUTE = f"{INSTANCE_APP}/httproute.yaml"


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "error"]


def only_error(findings: list[Finding]) -> Finding:
    found = errors(findings)
    assert len(found) == 1, "\n".join(map(str, found))
    return found[0]


def test_clean_tree_has_no_findings(clean_tree: Tree, store: SchemaStore, decrypt: Decrypt) -> None:
    assert run(clean_tree, store, decrypt) == []


@pytest.mark.skipif(not kubectl_available(), reason="kubectl not on PATH")
def test_clean_tree_builds_with_kubectl(
    clean_tree: Tree, store: SchemaStore, decrypt: Decrypt
) -> None:
    assert run(clean_tree, store, decrypt, kubectl=True) == []


@pytest.mark.skipif(not kubectl_available(), reason="kubectl not on PATH")
def test_kubectl_reports_a_broken_build(clean_tree: Tree, store: SchemaStore) -> None:
    edit(clean_tree, f"{ECHO_APP}/kustomization.yaml", "resources:\n", "resources:\n  - ./gone\n")
    found = [f for f in run(clean_tree, store, None, kubectl=True) if "kubectl" in f.message]
    assert [f.path for f in found] == [f"{ECHO_APP}/kustomization.yaml"]
    assert "gone" in found[0].message and "/tmp" not in found[0].message


def test_missing_depends_on_target(clean_tree: Tree, store: SchemaStore, decrypt: Decrypt) -> None:
    edit(clean_tree, ECHO_KS, "- name: flux-instance", "- name: flux-instanse")
    err = only_error(run(clean_tree, store, decrypt))
    assert (err.path, err.obj) == (ECHO_KS, "Kustomization/echo")
    assert err.message == (
        "dependsOn Kustomization flux-instanse in namespace flux-system is not rendered; "
        "did you mean flux-instance?"
    )


def test_dependency_cycle(clean_tree: Tree, store: SchemaStore, decrypt: Decrypt) -> None:
    edit(
        clean_tree,
        INSTANCE_KS,
        "spec:\n",
        "spec:\n  dependsOn:\n    - name: echo\n      namespace: default\n",
    )
    err = only_error(run(clean_tree, store, decrypt))
    assert "dependency cycle: default/echo -> flux-system/flux-instance -> default/echo" in str(err)
    assert err.path == ECHO_KS


def test_schema_violation_in_helmrelease(
    clean_tree: Tree, store: SchemaStore, decrypt: Decrypt
) -> None:
    edit(clean_tree, f"{ECHO_APP}/helmrelease.yaml", "interval: 1h", "interval: hourly")
    err = only_error(run(clean_tree, store, decrypt))
    assert (err.path, err.line, err.obj) == (f"{ECHO_APP}/helmrelease.yaml", 2, "HelmRelease/echo")
    assert err.message.startswith("spec.interval: 'hourly' does not match")


def test_schema_violation_in_cilium_network_policy(
    clean_tree: Tree, store: SchemaStore, decrypt: Decrypt
) -> None:
    edit(clean_tree, f"{ECHO_APP}/networkpolicy.yaml", "protocol: TCP", "protocol: HTTP")
    err = only_error(run(clean_tree, store, decrypt))
    assert err.obj == "CiliumNetworkPolicy/echo"
    assert "spec.ingress[0].toPorts[0].ports[0].protocol: 'HTTP' is not one of" in err.message


def test_core_kind_is_checked_strictly(
    clean_tree: Tree, store: SchemaStore, decrypt: Decrypt
) -> None:
    path = "kubernetes/apps/default/namespace.yaml"
    clean_tree[path] += b"spec:\n  finalizer: [kubernetes]\n"
    err = only_error(run(clean_tree, store, decrypt))
    assert (err.path, err.obj) == (path, "Namespace/default")
    assert "finalizer" in err.message


def test_missing_kustomization_resource(
    clean_tree: Tree, store: SchemaStore, decrypt: Decrypt
) -> None:
    path = f"{ECHO_APP}/kustomization.yaml"
    edit(
        clean_tree, path, "  - ./networkpolicy.yaml\n", "  - ./networkpolicy.yaml\n  - ./pvc.yaml\n"
    )
    err = only_error(run(clean_tree, store, decrypt))
    assert str(err) == f'{path}:2: Kustomization: resources entry "./pvc.yaml" does not exist'


def test_unencrypted_secret_file(clean_tree: Tree, store: SchemaStore, decrypt: Decrypt) -> None:
    path = f"{INSTANCE_APP}/secret.sops.yaml"
    clean_tree[path] = b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\nstringData:\n  a: b\n"
    err = only_error(run(clean_tree, store, decrypt))
    assert (err.path, err.line, err.obj) == (path, 1, "Secret/x")
    assert "not encrypted by sops" in err.message


def test_dangling_secret_ref(clean_tree: Tree, store: SchemaStore, decrypt: Decrypt) -> None:
    path = f"{ECHO_APP}/ocirepository.yaml"
    edit(
        clean_tree,
        path,
        "  interval: 15m\n",
        "  interval: 15m\n  secretRef:\n    name: ghcr-auth\n",
    )
    err = only_error(run(clean_tree, store, decrypt))
    assert (err.path, err.obj) == (path, "OCIRepository/echo")
    assert "spec.secretRef names Secret ghcr-auth in namespace default" in err.message


def test_missing_chart_source(clean_tree: Tree, store: SchemaStore, decrypt: Decrypt) -> None:
    edit(
        clean_tree,
        f"{ECHO_APP}/helmrelease.yaml",
        "name: echo\n  interval",
        "name: eco\n  interval",
    )
    err = only_error(run(clean_tree, store, decrypt))
    assert err.message == (
        "spec.chartRef OCIRepository eco in namespace default is not rendered; did you mean echo?"
    )


def test_missing_kustomization_path(clean_tree: Tree, store: SchemaStore, decrypt: Decrypt) -> None:
    edit(clean_tree, ECHO_KS, "echo/app", "echo/ap")
    # (The app's policy is then applied nowhere, so its namespace is uncovered too.)
    [err] = [f for f in errors(run(clean_tree, store, decrypt)) if f.path == ECHO_KS]
    assert 'spec.path "./kubernetes/apps/default/echo/ap" does not exist' in err.message


def test_substitution_makes_hostname_valid(
    clean_tree: Tree, store: SchemaStore, decrypt: Decrypt
) -> None:
    assert "${SECRET_DOMAIN}" in clean_tree[ROUTE].decode()
    assert run(clean_tree, store, decrypt) == []
    # Without substitution the same object fails the hostname pattern.
    edit(clean_tree, INSTANCE_KS, "  postBuild:\n", "  postBuil:\n")
    edit(
        clean_tree, "kubernetes/flux/cluster/ks.yaml", "          postBuild:", "          postBuil:"
    )
    found = errors(run(clean_tree, store, decrypt))
    route = [f for f in found if f.path == ROUTE]
    assert len(route) == 1 and "flux-webhook.${SECRET_DOMAIN}" in route[0].message
    assert "Kustomization flux-instance has no postBuild substitution" in route[0].message


def test_substitution_inherited_from_parent_patch(
    clean_tree: Tree, store: SchemaStore, decrypt: Decrypt
) -> None:
    # echo has no postBuild of its own: cluster-apps' patch gives it one.
    path = f"{ECHO_APP}/httproute.yaml"
    clean_tree[path] = clean_tree[ROUTE].replace(b"flux-webhook", b"echo")
    edit(
        clean_tree,
        f"{ECHO_APP}/kustomization.yaml",
        "resources:\n",
        "resources:\n  - ./httproute.yaml\n",
    )
    assert run(clean_tree, store, decrypt) == []


def test_substitution_can_be_disabled_per_object(
    clean_tree: Tree, store: SchemaStore, decrypt: Decrypt
) -> None:
    disabled = "  annotations:\n    kustomize.toolkit.fluxcd.io/substitute: disabled\n"
    edit(clean_tree, ROUTE, "  name: flux-webhook\n", f"  name: flux-webhook\n{disabled}")
    err = only_error(run(clean_tree, store, decrypt))
    assert err.path == ROUTE and "flux-webhook.${SECRET_DOMAIN}" in err.message
    assert "substitute is disabled on this object" in err.message


def test_without_key_unresolved_variables_are_warnings(
    clean_tree: Tree, store: SchemaStore
) -> None:
    findings = run(clean_tree, store, None)
    assert errors(findings) == []
    # Every object whose schema check needs ${SECRET_DOMAIN} says why it is unresolved.
    assert ROUTE in {f.path for f in findings}
    assert all("could not be decrypted" in f.message for f in findings)


def test_undefined_variable_warns(clean_tree: Tree, store: SchemaStore, decrypt: Decrypt) -> None:
    edit(clean_tree, ROUTE, "value: /hook/", "value: /${HOOK_PATH}/")
    [warning] = run(clean_tree, store, decrypt)
    assert warning.severity == "warning" and "HOOK_PATH not defined" in warning.message


def test_unknown_kind_warns_or_fails_when_strict(
    clean_tree: Tree, store: SchemaStore, decrypt: Decrypt
) -> None:
    path = f"{ECHO_APP}/widget.yaml"
    clean_tree[path] = b"apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n"
    edit(
        clean_tree,
        f"{ECHO_APP}/kustomization.yaml",
        "resources:\n",
        "resources:\n  - ./widget.yaml\n",
    )
    [warning] = run(clean_tree, store, decrypt)
    assert (
        warning.severity == "warning" and "no schema for Widget example.com/v1" in warning.message
    )
    assert only_error(run(clean_tree, store, decrypt, strict=True)).path == path


def test_invalid_yaml_and_missing_name(
    clean_tree: Tree, store: SchemaStore, decrypt: Decrypt
) -> None:
    clean_tree[f"{ECHO_APP}/ocirepository.yaml"] += b"---\nkind: ConfigMap\napiVersion: v1\n"
    clean_tree[f"{ECHO_APP}/helmrelease.yaml"] += b"  broken: [\n"
    found = sorted(map(str, errors(run(clean_tree, store, decrypt))))
    # The end of the file is its last line (19), not the line after it.
    assert found[0] == (
        f"{ECHO_APP}/helmrelease.yaml:19: invalid YAML: did not find expected node content "
        "at the end of the file (while parsing a flow node on line 19)"
    )
    assert found[1] == f"{ECHO_APP}/ocirepository.yaml:15: ConfigMap/: missing metadata.name"


def test_a_file_that_is_not_utf8_names_its_line(
    clean_tree: Tree, store: SchemaStore, decrypt: Decrypt
) -> None:
    # A plain override is copied as it is: its bytes reach validation undecoded.
    clean_tree[f"{ECHO_APP}/ocirepository.yaml"] += b"# caf\xe9\n"
    lines = clean_tree[f"{ECHO_APP}/ocirepository.yaml"].count(b"\n")
    found = [str(e) for e in errors(run(clean_tree, store, decrypt))]
    assert (
        f"{ECHO_APP}/ocirepository.yaml:{lines}: is not UTF-8 text (byte 0xe9); "
        "save the file as UTF-8" in found
    )


def test_namespace_without_network_policy(
    clean_tree: Tree, store: SchemaStore, decrypt: Decrypt
) -> None:
    edit(clean_tree, f"{ECHO_APP}/kustomization.yaml", "  - ./networkpolicy.yaml\n", "")
    err = only_error(run(clean_tree, store, decrypt))
    assert err.obj == "Namespace/default" and "no CiliumNetworkPolicy" in err.message


def test_no_policies_means_feature_off(
    clean_tree: Tree, store: SchemaStore, decrypt: Decrypt
) -> None:
    for path in [p for p in clean_tree if "networkpolicy" in p or "cilium-policies" in p]:
        del clean_tree[path]
    edit(clean_tree, f"{ECHO_APP}/kustomization.yaml", "  - ./networkpolicy.yaml\n", "")
    edit(
        clean_tree,
        "kubernetes/apps/flux-system/kustomization.yaml",
        "  - ./networkpolicy.yaml\n",
        "",
    )
    edit(clean_tree, "kubernetes/apps/network/kustomization.yaml", "  - ./networkpolicy.yaml\n", "")
    del clean_tree["kubernetes/apps/kube-system/kustomization.yaml"]
    assert run(clean_tree, store, decrypt) == []


def test_a_billion_laughs_in_the_tree_is_one_finding(
    clean_tree: Tree, store: SchemaStore, decrypt: Decrypt
) -> None:
    levels = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    levels += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 10)}]" for n in range(1, 9)]
    clean_tree["kubernetes/laughs.yaml"] = ("\n".join(levels) + "\n").encode()
    found = [f for f in run(clean_tree, store, decrypt) if f.path == "kubernetes/laughs.yaml"]
    assert [str(f) for f in found] == [
        "kubernetes/laughs.yaml:6: invalid YAML: expands to more than 1000000 values (aliases "
        "count every time they are used); at most 1000000 are allowed"
    ]
