"""Without network and without local CRD schemas: one line says so, not one per kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.validate import validate_tree
from generator.validate.report import format_report
from generator.validate.schemas import SchemaFetchError, SchemaStore

Tree = dict[str, bytes]
LOCATION = "https://schemas.example/catalog/{group}/{kind}_{version}.json"


def offline_store(tmp_path: Path) -> tuple[SchemaStore, list[str]]:
    calls: list[str] = []

    def fetch(url: str) -> bytes | None:
        calls.append(url)
        raise SchemaFetchError("Name or service not known")

    return SchemaStore([LOCATION], cache_dir=tmp_path, fetch=fetch), calls


def test_offline_is_one_line(tmp_path: Path, clean_tree: Tree) -> None:
    store, calls = offline_store(tmp_path)
    findings = validate_tree(clean_tree, store=store, kubectl=False)
    # The one other finding: no key, so cluster-secrets cannot be read.
    [offline] = [f for f in findings if "schema" in f.message]
    assert (offline.path, offline.severity) == ("", "warning")
    assert offline.message.startswith(
        "CRD schemas unavailable (https://schemas.example/catalog/… unreachable: "
        "Name or service not known): 17 custom resource(s) of 10 kind(s) not schema-checked; "
        "set CLUSTERGEN_SCHEMA_LOCATION or pass --schema-location"
    )
    assert len(calls) == 1  # the network is asked once, not once per kind


def test_offline_fails_when_strict(tmp_path: Path, clean_tree: Tree) -> None:
    store, _ = offline_store(tmp_path)
    findings = validate_tree(clean_tree, store=store, kubectl=False, strict=True)
    errors = [f for f in findings if f.severity == "error"]
    assert len(errors) == 1 and "CRD schemas unavailable" in errors[0].message
    # A finding about the whole tree counts no file.
    assert format_report(findings).splitlines()[-1] == "1 error(s)"


@pytest.mark.parametrize("strict", [False, True])
def test_local_schemas_leave_nothing_to_say(
    clean_tree: Tree, schema_location: str, strict: bool
) -> None:
    store = SchemaStore([schema_location, LOCATION], fetch=lambda url: None)
    findings = validate_tree(clean_tree, store=store, kubectl=False, strict=strict)
    assert [f for f in findings if "schema" in f.message] == []
