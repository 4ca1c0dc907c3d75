"""generator/config/version.py: what version a cluster.yaml is, and the refusal of any other."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from generator.config import load_cluster, version
from generator.config.schema import load_schema
from generator.errors import ConfigError
from tests.config.conftest import BASE
from tests.process import clustergen_in_process


@pytest.mark.parametrize(
    ("data", "expected"),
    [({}, 1), ({"schema_version": 1}, 1), ({"schema_version": 2}, 2), ({"schema_version": 7}, 7),
     ({"schema_version": "2"}, None), ({"schema_version": True}, None),
     ({"schema_version": 0}, None), ({"schema_version": 2.0}, None),
     ({"schema_version": None}, None)],
)  # fmt: skip
def test_file_version(data: dict[str, Any], expected: int | None) -> None:
    assert version.file_version(data) == expected


def test_the_schema_agrees_with_the_generator() -> None:
    schema = load_schema()
    assert schema["properties"][version.KEY]["const"] == version.CURRENT
    assert version.KEY in schema["required"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("schema_version: 3", "cluster.yaml:1:1 schema_version: cluster.yaml is schema version 3; "
         "this clustergen reads version 2 (and migrates older ones): take the newer clustergen "
         "it was written for (README, \"Upgrading clustergen\")"),
        ("schema_version: '2'", "cluster.yaml:1:1 schema_version: must be a whole number from "
         "1 up, the schema version of cluster.yaml (this clustergen reads 2); found the string "
         "'2': write it without quotes (schema_version: 2)"),
        ("schema_version: 1", "cluster.yaml:1:1 schema_version: cluster.yaml is schema version 1; "
         "this clustergen reads version 2: run `uv run clustergen migrate --config "),
    ],
    ids=["newer", "text", "older"],
)  # fmt: skip
def test_any_other_version_is_one_error_before_the_schema(
    tmp_path: Path, line: str, message: str
) -> None:
    config = tmp_path / "cluster.yaml"
    # An unknown key too: the version is reported alone, not among schema errors.
    config.write_text(BASE.replace("schema_version: 2", line) + "unknown: 1\n")
    with pytest.raises(ConfigError) as caught:
        load_cluster(config)
    assert [str(p) for p in caught.value.problems] == [
        message + (f"{config}`" if message.endswith("--config ") else "")
    ]


def test_migrate_command_names_the_config_unless_it_is_the_default() -> None:
    assert version.migrate_command(Path("cluster.yaml")) == "uv run clustergen migrate"
    assert version.migrate_command(Path("env/prod.yaml")) == (
        "uv run clustergen migrate --config env/prod.yaml"
    )


def test_a_missing_version_points_at_the_top_of_the_file(tmp_path: Path) -> None:
    # The sample's comments come first: the top-level mapping starts below them, at a
    # section that has nothing to do with the missing key.
    sample = (Path(__file__).parents[2] / "cluster.sample.yaml").read_text()
    config = tmp_path / "cluster.yaml"
    config.write_text(sample.replace("schema_version: 2\n", ""))
    result = clustergen_in_process(["check", "--config", str(config)], cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith(
        "error: cluster.yaml:1:1 schema_version: the key is missing, so cluster.yaml is schema "
        "version 1 (as the first release wrote it); this clustergen reads version 2: run "
        f"`uv run clustergen migrate --config {config}`\n"
    ), result.stderr
