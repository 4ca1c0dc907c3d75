"""run_validate on a tree on disk, and validation speed on a tree of realistic size."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from generator.cli import main
from generator.errors import ClusterGenError
from generator.secrets.sops import Sops
from generator.validate import run_validate, validate_tree
from generator.validate.schemas import SchemaStore

Tree = dict[str, bytes]


def write_tree(root: Path, tree: Tree) -> None:
    for path, content in tree.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(content)


def test_run_validate_clean_with_key(
    tmp_path: Path,
    clean_tree: Tree,
    sops: Sops,
    schema_location: str,
) -> None:
    write_tree(tmp_path, clean_tree)
    assert sops.age_key_file is not None
    (tmp_path / "age.key").write_bytes(sops.age_key_file.read_bytes())
    report = run_validate(tmp_path, [schema_location], strict=True)
    assert (report.status, report.text.strip()) == (0, "ok: no errors")


def test_run_validate_reads_locations_from_the_environment(
    tmp_path: Path,
    clean_tree: Tree,
    schema_location: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As for configure: no --schema-location means $CLUSTERGEN_SCHEMA_LOCATION (not the URL).
    write_tree(tmp_path, clean_tree)
    empty = tmp_path / "no-schemas-here"
    empty.mkdir()
    monkeypatch.setenv("CLUSTERGEN_SCHEMA_LOCATION", f"{empty}{os.pathsep}{schema_location}")
    report = run_validate(tmp_path, [], strict=True)
    assert report.status == 0
    assert "CRD schemas" not in report.text


def test_a_mistyped_schema_location_fails_with_its_name(
    tmp_path: Path, clean_tree: Tree, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tree(tmp_path / "tree", clean_tree)
    missing = tmp_path / "crd-schemas"
    assert main(["validate", "--schema-location", str(missing), str(tmp_path / "tree")]) == 1
    err = capsys.readouterr().err
    assert f'error: CRD schema location "{missing}": no directory "{missing}"' in err
    assert "Traceback" not in err


def test_run_validate_reports_errors_by_file(
    tmp_path: Path, clean_tree: Tree, schema_location: str
) -> None:
    path = "kubernetes/apps/default/echo/ks.yaml"
    clean_tree[path] = clean_tree[path].replace(b"name: flux-instance", b"name: nothing")
    write_tree(tmp_path, clean_tree)
    report = run_validate(tmp_path, [schema_location], strict=False)
    assert report.status == 1
    out = report.text.splitlines()
    assert out[0] == (
        f"{path}:2: Kustomization/echo: dependsOn Kustomization nothing "
        "in namespace flux-system is not rendered"
    )
    # No age key: the encrypted substitution source makes warnings (one per object whose
    # schema check needs ${SECRET_DOMAIN}), not errors.
    assert out[1:3] == ["", "warnings:"]
    assert all("could not be decrypted" in line for line in out[3:-1])
    assert out[-1] == f"1 error(s) in 1 file(s), {len(out) - 4} warning(s)"


def test_run_validate_needs_a_rendered_tree(tmp_path: Path) -> None:
    with pytest.raises(ClusterGenError, match="no kubernetes/ or bootstrap/"):
        run_validate(tmp_path, [], strict=False)
    with pytest.raises(ClusterGenError, match="not a directory"):
        run_validate(tmp_path / "missing", [], strict=False)


def test_a_150_file_tree_validates_clean(clean_tree: Tree, schema_location: str) -> None:
    app = "kubernetes/apps/default/echo"
    apps = {p: c for p, c in clean_tree.items() if p.startswith(f"{app}/")}
    listing = b""
    for i in range(26):
        for path, content in apps.items():
            new_path = path.replace("/echo/", f"/echo{i}/")
            clean_tree[new_path] = content.replace(b"echo", f"echo{i}".encode())
        listing += f"  - ./echo{i}/ks.yaml\n".encode()
    clean_tree["kubernetes/apps/default/kustomization.yaml"] += listing
    assert len(clean_tree) >= 150
    # How fast is bench/'s question (bench/run.py); here: a large tree validates clean.
    findings = validate_tree(clean_tree, store=SchemaStore([schema_location]), kubectl=False)
    assert [f for f in findings if f.severity == "error"] == []
