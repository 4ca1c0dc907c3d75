"""The Flux kinds we render are checked for what Flux needs, with or without CRD schemas
(generator/validate/flux_specs.py): a broken HelmRelease must not pass offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.validate.schemas import SchemaStore
from tests.validate.conftest import ECHO_APP, ECHO_KS, Decrypt, Tree, edit, run
from tests.validate.test_offline import offline_store

ECHO_HR = f"{ECHO_APP}/helmrelease.yaml"


def stores(tmp_path: Path, store: SchemaStore) -> list[SchemaStore]:
    """Offline (no schema found) and with the CRD schemas: both must catch the fault."""
    return [offline_store(tmp_path)[0], store]


def errors(tree: Tree, store: SchemaStore, decrypt: Decrypt) -> list[str]:
    return [str(f) for f in run(tree, store, decrypt) if f.severity == "error"]


def test_clean_tree_has_no_flux_spec_findings(
    tmp_path: Path, clean_tree: Tree, store: SchemaStore, decrypt: Decrypt
) -> None:
    for each in stores(tmp_path, store):
        assert errors(clean_tree, each, decrypt) == []


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        # The CEL rule the JSON schema does not carry: with or without schemas.
        (
            "  chartRef:\n    kind: OCIRepository\n    name: echo\n",
            "",
            "HelmRelease/echo: spec: set exactly one of chart or chartRef (neither is set)",
        ),
        (
            "  chartRef:\n",
            "  chart: {spec: {chart: echo, sourceRef: {kind: HelmRepository, name: x}}}\n"
            "  chartRef:\n",
            "set exactly one of chart or chartRef (both are set)",
        ),
    ],
)
def test_helmrelease_chart_xor_chart_ref(
    tmp_path: Path,
    clean_tree: Tree,
    store: SchemaStore,
    decrypt: Decrypt,
    old: str,
    new: str,
    message: str,
) -> None:
    edit(clean_tree, ECHO_HR, old, new)
    for each in stores(tmp_path, store):
        found = errors(clean_tree, each, decrypt)
        assert any(f.startswith(f"{ECHO_HR}:2: ") and message in f for f in found), found


def test_offline_a_bad_interval_is_an_error_named_once(
    tmp_path: Path, clean_tree: Tree, store: SchemaStore, decrypt: Decrypt
) -> None:
    edit(clean_tree, ECHO_HR, "interval: 1h", "interval: soon")
    offline = errors(clean_tree, offline_store(tmp_path)[0], decrypt)
    assert offline == [
        f"{ECHO_HR}:2: HelmRelease/echo: spec.interval must be a Go duration like 30s, 10m "
        'or 1h30m (units ms, s, m, h), not "soon"'
    ]
    # With the schema, its own pattern error says it: not twice.
    online = errors(clean_tree, store, decrypt)
    assert len([f for f in online if "spec.interval" in f]) == 1


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("  interval: 1h\n", "", "spec.interval is missing"),
        ("  prune: true\n", "", "spec.prune must be true or false, not nothing"),
        (
            "  sourceRef:\n    kind: GitRepository\n",
            "  sourceRef:\n    kind: GitRepo\n",
            "spec.sourceRef.kind must be one of OCIRepository, GitRepository, Bucket, "
            'ExternalArtifact, not "GitRepo"',
        ),
        ("  path: ./kubernetes/apps/default/echo/app\n", "  path: [a]\n", "spec.path must be"),
    ],
)
def test_offline_kustomization_needs_what_flux_needs(
    tmp_path: Path, clean_tree: Tree, decrypt: Decrypt, old: str, new: str, message: str
) -> None:
    edit(clean_tree, ECHO_KS, old, new)
    found = errors(clean_tree, offline_store(tmp_path)[0], decrypt)
    assert any(f.startswith(f"{ECHO_KS}:2: Kustomization/echo: {message}") for f in found), found


def test_offline_a_flux_variable_is_left_to_the_substitution_checks(
    tmp_path: Path, clean_tree: Tree, decrypt: Decrypt
) -> None:
    # Flux substitutes ${VAR} before applying: the value is not known here.
    edit(clean_tree, ECHO_KS, "prune: true", "prune: ${ECHO_PRUNE:=true}")
    edit(clean_tree, ECHO_KS, "interval: 1h", "interval: ${ECHO_INTERVAL:=1h}")
    found = errors(clean_tree, offline_store(tmp_path)[0], decrypt)
    assert not [f for f in found if "spec.prune" in f or "spec.interval" in f], found
