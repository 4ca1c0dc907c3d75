"""What a manifest entry may claim: the scope derived from the templates, and the seals."""

from __future__ import annotations

import pytest

from generator.write.manifest import Manifest
from generator.write.ownership import (
    BAD_SEAL,
    OUT_OF_SCOPE,
    output_scope,
    seal_key_id,
    seals_for,
    trusted,
)

KEY = b"k" * 32
SECRET = "kubernetes/apps/x/secret.sops.yaml"


def test_scope_comes_from_the_template_tree() -> None:
    scope = output_scope()

    assert {"kubernetes", "talos", "bootstrap", "docs", ".github/workflows"} <= set(scope.roots)
    assert ".sops.yaml" in scope.root_files


@pytest.mark.parametrize(
    "path",
    [
        "kubernetes/apps/x/ks.yaml",
        "talos/patches/controller/cluster.yaml",  # a rendered file may share a user file's name
        ".github/workflows/validate.yaml",
        ".sops.yaml",
    ],
)
def test_rendered_paths_are_in_scope(path: str) -> None:
    assert output_scope().renders(path)


@pytest.mark.parametrize(
    "path",
    [
        "cluster.yaml",
        "cluster.secrets.sops.yaml",
        "age.key",
        "age.key.old",
        "deploy.key",
        "webhook.token",
        "README.md",
        "pyproject.toml",
        "templates/config/kubernetes/x.yaml.j2",
        "generator/cli.py",
        "tests/conftest.py",
        "schemas/cluster.schema.json",
        ".github/CODEOWNERS",
        ".clustergen/manifest.json",
        "../outside.yaml",
        "kubernetes/../age.key",
    ],
)
def test_everything_else_is_out_of_scope(path: str) -> None:
    assert not output_scope().renders(path)


def sealed(files: dict[str, str], fingerprints: dict[str, str]) -> Manifest:
    manifest = Manifest(files=files, fingerprints=fingerprints)
    return Manifest(
        files=files,
        fingerprints=fingerprints,
        seals=seals_for(manifest, KEY),
        seal_key=seal_key_id(KEY),
    )


def test_a_sealed_entry_is_trusted() -> None:
    manifest = sealed({SECRET: "d1", "README.md": "d2"}, {SECRET: "f1"})

    kept, dropped = trusted(manifest, KEY)

    assert kept.files == {SECRET: "d1"} and kept.fingerprints == {SECRET: "f1"}
    assert dropped == {"README.md": OUT_OF_SCOPE}


def test_a_digest_changed_without_the_key_breaks_the_seal() -> None:
    manifest = sealed({SECRET: "d1"}, {SECRET: "f1"})
    manifest.files[SECRET] = "forged"

    kept, dropped = trusted(manifest, KEY)

    assert kept.files == {} and dropped == {SECRET: BAD_SEAL}


def test_seals_of_another_key_vouch_for_nothing_but_accuse_no_one() -> None:
    manifest = sealed({SECRET: "d1"}, {SECRET: "f1"})

    kept, dropped = trusted(manifest, b"rotated" * 4)

    assert kept.files == {SECRET: "d1"} and kept.fingerprints == {} and dropped == {}


def test_a_missing_seal_means_decrypting_instead_of_trusting() -> None:
    manifest = sealed({SECRET: "d1"}, {SECRET: "f1"})
    del manifest.seals[SECRET]

    kept, dropped = trusted(manifest, KEY)

    assert kept.files == {SECRET: "d1"} and kept.fingerprints == {} and dropped == {}
