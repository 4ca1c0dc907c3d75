"""build_context and load_versions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from generator.errors import ClusterGenError
from generator.render.context import build_context, load_versions


@dataclass(frozen=True)
class Side:
    age_public_key: str
    deploy_key: str | None


def test_context_has_sections_derived_side_and_versions() -> None:
    cluster = {"network": {"node_cidr": "10.0.0.0/24"}, "derived": {"ha": False}}

    context = build_context(cluster, Side("age1xyz", None), {"cilium": "1.16.0"})

    assert context == {
        "network": {"node_cidr": "10.0.0.0/24"},
        "derived": {"ha": False},
        "side": {"age_public_key": "age1xyz", "deploy_key": None},
        "versions": {"cilium": "1.16.0"},
    }


def test_side_may_be_a_mapping() -> None:
    assert build_context({}, {"webhook_token": "t"}, {})["side"] == {"webhook_token": "t"}


def test_context_may_not_shadow_side_or_versions() -> None:
    with pytest.raises(ValueError, match="side"):
        build_context({"side": {}}, {}, {})


def test_load_versions_reads_yaml_and_follows_edits(tmp_path: Path) -> None:
    path = tmp_path / "versions.yaml"
    path.write_text("charts:\n  cilium: 1.16.0\n")
    assert load_versions(path) == {"charts": {"cilium": "1.16.0"}}
    path.write_text("charts:\n  cilium: 1.17.0 \n")
    assert load_versions(path)["charts"]["cilium"] == "1.17.0"


def test_load_versions_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ClusterGenError, match="missing"):
        load_versions(tmp_path / "versions.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [\n")
    with pytest.raises(ClusterGenError, match=r"bad\.yaml:\d+: not valid YAML"):
        load_versions(bad)
    bad.write_text("- a\n")
    with pytest.raises(ClusterGenError, match="must be a mapping"):
        load_versions(bad)
