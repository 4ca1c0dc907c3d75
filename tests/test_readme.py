"""The README is part of the interface: its feature table and commands must stay true."""

from __future__ import annotations

import json
import re
from pathlib import Path

from generator.cli import build_parser
from generator.paths import SCHEMA_FILE

README = Path(__file__).resolve().parents[1] / "README.md"


def _features_in_schema() -> set[str]:
    schema = json.loads(SCHEMA_FILE.read_text())
    return set(schema["properties"]["features"]["properties"])


def test_feature_table_lists_every_feature_of_the_schema() -> None:
    rows = re.findall(r"^\| `features\.([a-z_]+)` \|", README.read_text(), flags=re.M)
    assert sorted(rows) == sorted(_features_in_schema())


def test_readme_shows_the_two_commands() -> None:
    text = README.read_text()
    assert "uv run task configure" in text and "uv run task test" in text


def test_every_cli_command_is_documented() -> None:
    text = README.read_text()
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in sub.choices:  # type: ignore[union-attr]
        assert f"clustergen {name}" in text, name
