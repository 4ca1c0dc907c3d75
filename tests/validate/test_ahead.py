"""Checks ahead (configure's validation worker checks each file as it renders): the tree's
validation then finds exactly what it finds from scratch, and secrets are never checked
ahead."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from generator.secrets.files import is_secret_path
from generator.validate import ahead, documents, parse_cache, tool_configs
from generator.validate.schemas import SchemaStore
from generator.validate.tree import validate_tree
from tests.validate.conftest import ECHO_APP, Decrypt, Tree, builds, edit

HELMRELEASE = f"{ECHO_APP}/helmrelease.yaml"
POLICY = f"{ECHO_APP}/networkpolicy.yaml"


@pytest.fixture(autouse=True)
def no_stores(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts as a fresh worker does: nothing checked ahead."""
    monkeypatch.setattr(ahead, "_stores", {})
    monkeypatch.setattr(ahead, "_parses", [])
    monkeypatch.setattr(ahead, "_building", [])


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The kinds validated against a schema here (a result kept from a check ahead, or an
    earlier run, is not validated again)."""
    kinds: list[str] = []
    original = SchemaStore._errors

    def counting(self: SchemaStore, key: tuple[str, str], data: dict[str, Any]) -> list[Any]:
        kinds.append(key[1])
        return original(self, key, data)

    monkeypatch.setattr(SchemaStore, "_errors", counting)
    return kinds


def test_the_findings_are_those_of_a_validation_from_scratch(
    clean_tree: Tree, decrypt: Decrypt, schema_location: str
) -> None:
    for path, content in clean_tree.items():
        ahead.check_file(path, content, [schema_location])
    # Then the write changes two files: one wrong now, one wrong only as rendered.
    final = dict(clean_tree)
    edit(final, HELMRELEASE, "interval: 1h", "interval: hourly")
    rendered_wrong = dict(clean_tree)
    edit(rendered_wrong, POLICY, "protocol: TCP", "protocol: HTTP")
    ahead.check_file(POLICY, rendered_wrong[POLICY], [schema_location])

    found = ahead.validate_tree(final, schema_locations=[schema_location], decrypt=decrypt)
    scratch = validate_tree(
        final,
        schema_locations=[schema_location],
        decrypt=decrypt,
        store=SchemaStore([schema_location]),
    )
    assert [str(f) for f in found] == [str(f) for f in scratch]
    assert [f.obj for f in found if f.severity == "error"] == ["HelmRelease/echo"]


def test_objects_checked_ahead_are_not_validated_again(
    clean_tree: Tree, decrypt: Decrypt, schema_location: str, checked: list[str]
) -> None:
    # An object no earlier run kept a result for.
    edit(
        clean_tree, POLICY, "  name: echo\n", f"  name: echo\n  labels:\n    run: {uuid.uuid4()}\n"
    )
    ahead.check_file(POLICY, clean_tree[POLICY], [schema_location])
    assert checked == ["CiliumNetworkPolicy"]
    checked.clear()
    ahead.validate_tree(clean_tree, schema_locations=[schema_location], decrypt=decrypt)
    assert "CiliumNetworkPolicy" not in checked


@pytest.mark.parametrize(
    ("path", "content"),
    [
        ("bootstrap/sops-age.sops.yaml", b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n"),
        (
            "kubernetes/apps/x/cm.yaml",
            b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${A}\n",
        ),
        ("docs/notes.yaml", b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: n\n"),
        ("kubernetes/apps/x/broken.yaml", b"apiVersion: v1\nkind: [\n"),
    ],
    ids=["secret", "flux-variables", "not-a-manifest", "invalid-yaml"],
)
def test_nothing_is_checked_ahead_that_validation_would_not_remember(
    path: str, content: bytes, schema_location: str, checked: list[str]
) -> None:
    ahead.check_file(path, content, [schema_location])
    assert checked == [] and ahead._stores == {}


def test_a_secret_object_outside_a_sops_file_is_not_checked_ahead(
    schema_location: str, checked: list[str]
) -> None:
    content = f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {uuid.uuid4()}\n".encode()
    ahead.check_file("kubernetes/apps/x/secret.yaml", content, [schema_location])
    assert checked == []


def test_without_checks_ahead_validation_uses_a_store_of_its_own(
    clean_tree: Tree, decrypt: Decrypt, schema_location: str
) -> None:
    assert (
        ahead.validate_tree(clean_tree, schema_locations=[schema_location], decrypt=decrypt) == []
    )
    assert ahead._stores == {}  # in-process callers share no store between runs


def test_files_parsed_ahead_are_not_parsed_again(
    clean_tree: Tree, decrypt: Decrypt, schema_location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Bytes no earlier run parsed, in a file that holds no object.
    path = "kubernetes/apps/default/kustomization.yaml"
    clean_tree[path] += f"# {uuid.uuid4()}\n".encode()
    ahead.check_file(path, clean_tree[path], [schema_location])
    parsed: list[str] = []
    original = documents.parse_text

    def counting(text: str) -> documents.Parsed:
        parsed.append(text)
        return original(text)

    monkeypatch.setattr(documents, "parse_text", counting)
    monkeypatch.setattr(parse_cache, "parse_text", counting)
    ahead.validate_tree(clean_tree, schema_locations=[schema_location], decrypt=decrypt)
    assert clean_tree[path].decode() not in parsed


def _build_ahead(rendered: Tree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kubectl's builds ahead of `rendered`, with no build kept yet, to their end."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "workdir").mkdir()
    ahead.build(rendered, str(tmp_path / "workdir"))
    ahead._built()


def test_builds_ahead_of_the_rendered_tree_serve_the_written_one(
    clean_tree: Tree,
    decrypt: Decrypt,
    schema_location: str,
    built: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """kubectl builds the tree as rendered (secrets in plaintext) while the rest renders;
    the tree as written (secrets encrypted) then needs no build of its own: the secrets'
    stand-ins are the same either way."""
    secrets = [p for p in clean_tree if is_secret_path(p)]
    assert secrets
    rendered = {p: decrypt(p, c) or b"" if p in secrets else c for p, c in clean_tree.items()}
    _build_ahead(rendered, tmp_path, monkeypatch)
    assert builds(built)  # kubectl ran, ahead
    found = ahead.validate_tree(clean_tree, schema_locations=[schema_location], decrypt=decrypt)
    assert found == []
    assert builds(built) == []


def test_a_tree_written_otherwise_than_rendered_is_built_again(
    clean_tree: Tree,
    decrypt: Decrypt,
    schema_location: str,
    built: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _build_ahead(clean_tree, tmp_path, monkeypatch)
    builds(built)
    # A hand edit merged into the written file breaks its build: reported, not hidden.
    edit(clean_tree, f"{ECHO_APP}/kustomization.yaml", "./helmrelease.yaml", "./missing.yaml")
    found = ahead.validate_tree(clean_tree, schema_locations=[schema_location], decrypt=decrypt)
    failed = [f for f in found if "kubectl kustomize failed" in f.message]
    assert [f.path for f in failed] == [f"{ECHO_APP}/kustomization.yaml"]
    assert builds(built)  # built again, not taken from the build ahead


def test_a_workflow_is_checked_ahead_with_its_github_expressions(
    clean_tree: Tree, decrypt: Decrypt, schema_location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`${{ }}` in a workflow is GitHub's syntax, not a Flux variable: checked ahead."""
    path = ".github/workflows/build.yaml"
    clean_tree[path] = (
        "name: build\non: [push]\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n"
        f"      - run: echo ${{{{ github.sha }}}} {uuid.uuid4()}\n"
    ).encode()
    ahead.check_file(path, clean_tree[path], [schema_location])
    validated: list[str] = []
    original = tool_configs._against

    def counting(where: str, *args: Any) -> Any:
        validated.append(where)
        return original(where, *args)

    monkeypatch.setattr(tool_configs, "_against", counting)
    found = ahead.validate_tree(clean_tree, schema_locations=[schema_location], decrypt=decrypt)
    assert found == [] and path not in validated
