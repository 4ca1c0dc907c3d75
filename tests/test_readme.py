"""The README is part of the interface: its feature table and commands must stay true."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

from generator.cli import build_parser, main
from generator.paths import SAMPLE_CONFIG, SCHEMA_FILE
from generator.secrets.inventory import ROTATION

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


def _command_rows() -> dict[str, str]:
    """`clustergen NAME …` cells of the command tables, by NAME (a command with
    sub-commands may have one row each: their cells are joined)."""
    rows = re.findall(r"^\|[^|]*\| `clustergen ([a-z]+)([^`]*)` \|", README.read_text(), re.M)
    usages: dict[str, str] = {}
    for name, usage in rows:
        usages[name] = f"{usages.get(name, '')} {usage}"
    return usages


def _lists_every_option(usage: str, command: argparse.ArgumentParser, where: str) -> None:
    for action in command._actions:
        if action.dest == "help":
            continue
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                assert re.search(rf"[ |]{re.escape(name)}( |\\|)", f" {usage} "), (where, name)
                _lists_every_option(usage, sub, f"{where} {name}")
        elif action.option_strings:
            assert action.option_strings[-1] in usage, (where, action.option_strings)
        elif action.choices:
            assert "\\|".join(action.choices) in usage, (where, action.choices)


def test_command_table_lists_every_option() -> None:
    rows = _command_rows()
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, command in sub.choices.items():  # type: ignore[union-attr]
        assert name in rows, name
        _lists_every_option(rows[name], command, name)


def test_feature_defaults_match_the_schema() -> None:
    schema = json.loads(SCHEMA_FILE.read_text())["properties"]["features"]["properties"]
    rows = re.findall(r"^\| `features\.([a-z_]+)` \| ([^|]+) \|", README.read_text(), flags=re.M)
    for name, default in rows:
        props = schema[name]["properties"]
        booleans = [p for p in props.values() if p.get("type") == "boolean"]
        state, _, extra = default.strip().partition(" ")
        on = {"on": True, "off": False, "all": True}[state]
        assert props["enabled"]["default"] is on, name
        if state == "all":  # every boolean of the flag defaults to on
            assert all(p.get("default") is True for p in booleans), name
        for key, value in re.findall(r"`(?:([a-z_]+): )?([^`]+)`", extra):
            defaults = [p.get("default") for k, p in props.items() if key in (None, "", k)]
            assert value in defaults, (name, key, value)


def test_check_example_is_what_check_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (example,) = re.findall(
        r"`(cluster\.yaml:\d+:\d+ network\.node_cidr: [^`]+)`", README.read_text()
    )
    config = tmp_path / "cluster.yaml"
    config.write_text(
        SAMPLE_CONFIG.read_text().replace("node_cidr: 192.168.1.0/24", "node_cidr: 192.168.1.5/24")
    )
    assert main(["check", "--config", str(config)]) == 1
    assert capsys.readouterr().err.splitlines()[0] == f"error: {example}"


def test_rotation_steps_match_docs_secrets_md() -> None:
    text = README.read_text()
    section = text[text.index("### Rotating the age key") :]
    section = section[: section.index("\n## ")]
    steps = re.findall(r"^\d+\. `([^`]+)`", section, flags=re.M)
    assert steps == re.findall(r"^\d+\. `([^`]+)`", ROTATION, flags=re.M)
    assert len(steps) >= 5
