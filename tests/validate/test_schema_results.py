"""Schema results kept between runs: reused while neither object nor schema changes, never
kept for what may hold a secret value, and the findings are the same either way."""

from __future__ import annotations

import json
from pathlib import Path

from generator.secrets.files import is_secret_path
from generator.validate.documents import parse_tree
from generator.validate.schema_results import ResultCache
from generator.validate.schemas import SchemaStore
from generator.validate.tool_configs import check_tool_configs
from tests.validate.conftest import Decrypt, Tree, edit, run

DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {}}
POLICY = {
    "apiVersion": "cilium.io/v2",
    "kind": "CiliumNetworkPolicy",
    "metadata": {"name": "x"},
    "spec": {"endpointSelector": {}},
}


def _store(tmp_path: Path, locations: list[str] | None = None) -> SchemaStore:
    return SchemaStore(locations or [], results=ResultCache(tmp_path / "results", code="test"))


def _entries(tmp_path: Path) -> dict[str, list[list[object]]]:
    path = tmp_path / "results" / "results.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def test_a_kept_result_is_what_a_later_store_answers(tmp_path: Path) -> None:
    (tmp_path / "results").mkdir(mode=0o700)
    store = _store(tmp_path)
    first = store.check(DEPLOYMENT, remember=True)
    assert first.found and first.errors
    assert _entries(tmp_path) == {}, "written by save_results, once"
    store.save_results()
    [(key, errors)] = _entries(tmp_path).items()
    assert errors == [list(e) for e in first.errors]
    # The entry, not a new validation, answers: what it holds is what comes back.
    path = tmp_path / "results" / "results.json"
    path.write_text(json.dumps({key: [["from the cache", False]]}))
    assert _store(tmp_path).check(DEPLOYMENT, remember=True).errors == [("from the cache", False)]
    # Without `remember` the cache is neither read nor written.
    assert _store(tmp_path).check(DEPLOYMENT).errors == first.errors


def test_another_object_or_schema_is_another_entry(tmp_path: Path) -> None:
    (tmp_path / "results").mkdir(mode=0o700)
    schemas = tmp_path / "schemas" / "cilium.io"
    schemas.mkdir(parents=True)
    schema = schemas / "ciliumnetworkpolicy_v2.json"
    schema.write_text(json.dumps({"type": "object", "required": ["spec"]}))
    location = str(tmp_path / "schemas")
    for required, errors in (
        ("spec", []),
        ("status", [("'status' is a required property", False)]),
    ):
        schema.write_text(json.dumps({"type": "object", "required": [required]}))
        store = _store(tmp_path, [location])
        assert store.check(POLICY, remember=True).errors == errors
        store.save_results()
    store = _store(tmp_path)
    store.check({**DEPLOYMENT, "metadata": {"name": "e"}}, remember=True)
    store.save_results()
    assert len(_entries(tmp_path)) == 3


def test_unknown_kinds_and_non_json_data_are_not_kept(tmp_path: Path) -> None:
    (tmp_path / "results").mkdir(mode=0o700)
    store = _store(tmp_path)
    assert not store.check({**POLICY, "kind": "Nothing"}, remember=True).found
    dated = {**DEPLOYMENT, "metadata": {"name": "d", "labels": {1: "x"}}}
    store.check(dated, remember=True)
    store.save_results()
    assert _entries(tmp_path) == {}


def test_same_findings_cold_and_warm_and_no_secret_kept(
    tmp_path: Path, clean_tree: Tree, decrypt: Decrypt, schema_location: str
) -> None:
    """The clean fixture with a fault: the findings of a store with an empty cache, one
    with it filled, and one without it agree; no entry holds a secret's value."""
    edit(
        clean_tree, "kubernetes/apps/default/echo/app/ocirepository.yaml", "tag: 4.4.0", "tag: [1]"
    )
    results = tmp_path / "results"
    results.mkdir(mode=0o700)

    def findings(cache: bool) -> list[str]:
        store = SchemaStore(
            [schema_location],
            results=ResultCache(results if cache else tmp_path / "absent", code="test"),
        )
        return [f"{f.path}:{f.line}:{f.severity}:{f}" for f in run(clean_tree, store, decrypt)]

    cold = findings(cache=True)
    kept = _entries(tmp_path)
    assert kept
    assert findings(cache=True) == cold
    assert _entries(tmp_path) == kept
    assert findings(cache=False) == cold
    assert any("ocirepository.yaml" in line for line in cold), cold
    # What a secret file holds (plaintext, once decrypted) is never part of an entry.
    secrets = [p for p in clean_tree if is_secret_path(p)]
    plaintexts = [decrypt(p, clean_tree[p]) or b"" for p in secrets]
    values = [line.split(b":", 1)[1].strip() for text in plaintexts for line in text.splitlines()]
    values = [v for v in values if len(v) > 8]
    assert values
    data = (results / "results.json").read_bytes()
    assert not any(v in data for v in values)


def test_a_workflow_result_is_kept_and_reused(tmp_path: Path) -> None:
    workflow = "---\nname: ci\non: push\njob:\n  test:\n    runs-on: ubuntu-latest\n"
    docs, _ = parse_tree({".github/workflows/ci.yaml": workflow.encode()})
    results = tmp_path / "results"
    results.mkdir(mode=0o700)

    def found(cache: Path) -> list[str]:
        kept = ResultCache(cache, code="test")
        out = [str(f) for f in check_tool_configs(docs, (), kept)]
        kept.save()
        return out

    without = [str(f) for f in check_tool_configs(docs, ())]
    assert any("not a valid GitHub workflow" in f for f in without)
    assert found(results) == without
    assert found(results) == without
    [(key, _)] = _entries(tmp_path).items()
    (results / "results.json").write_text(json.dumps({key: [["from the cache", False]]}))
    assert found(results) == [".github/workflows/ci.yaml:2: from the cache"]
