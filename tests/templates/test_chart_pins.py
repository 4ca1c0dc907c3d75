"""A chart bump names the chart source its values were read against, in both places:
the `# values checked against` comment of templates/versions.yaml and
tests/templates/chart_values.py."""

from __future__ import annotations

import re

import yaml

from generator import paths
from tests.templates.chart_values import TOP_LEVEL_KEYS


def _checked_against() -> dict[str, str | None]:
    """{chart: the source its `# values checked against` comment names, or None}."""
    text = paths.VERSIONS_FILE.read_text(encoding="utf-8")
    charts = text.split("\ncharts:\n", 1)[1].split("\nimages:\n", 1)[0]
    found: dict[str, str | None] = {}
    for block in re.split(r"\n  (?=[A-Za-z0-9_-]+:\n)", charts):
        name = block.split(":", 1)[0].strip()
        match = re.search(r"# values checked against (\S+)", block)
        found[name] = match.group(1) if match else None
    return found


def test_every_chart_says_what_its_values_were_checked_against() -> None:
    charts = yaml.safe_load(paths.VERSIONS_FILE.read_text(encoding="utf-8"))["charts"]
    comments = _checked_against()
    assert [name for name in charts if not comments.get(name)] == []


def test_chart_values_read_the_source_the_comment_names() -> None:
    comments = _checked_against()
    for release, (source, _) in TOP_LEVEL_KEYS.items():
        if release in comments:
            assert source.split()[0] == comments[release], release
