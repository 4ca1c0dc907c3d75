"""Warnings: each fixture under fixtures/warnings loads (it is valid) and carries exactly
the warning lines of its `.expected` file; the CLI prints them and --strict makes them fatal."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator import cli
from generator.config import load_cluster

WARNINGS = sorted((Path(__file__).parent / "fixtures" / "warnings").glob("*.yaml"))
VALID = sorted((Path(__file__).parent / "fixtures" / "valid").glob("*.yaml"))


@pytest.mark.parametrize("path", WARNINGS, ids=lambda p: p.stem)
def test_warning_fixture_reports_expected_lines(path: Path) -> None:
    expected = path.with_suffix(".expected").read_text(encoding="utf-8").splitlines()
    assert expected
    assert [str(p) for p in load_cluster(path).warnings] == expected


# Valid fixtures that show a setting we warn about, and the keys warned about.
WARNED = {
    "three-controllers": ["nodes[0].mtu"],  # a per-node MTU override on one node only
    "one-controller-three-workers": ["nodes"],  # one controller: no etcd or API failover
    "dns-none": ["repository.webhook_provider"],  # github.com cannot call an internal route
}


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_fixtures_warn_only_where_expected(path: Path) -> None:
    keys = [p.key for p in load_cluster(path).warnings]
    assert keys == WARNED.get(path.stem, [])


def test_check_prints_warnings_and_exits_0_unless_strict(
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = next(p for p in WARNINGS if p.stem == "two-controllers")
    line = (
        "warning: two-controllers.yaml:19:1 nodes: 2 controllers run 2 etcd members, which "
        "tolerate 0 failure(s), no more than 1 would; use 1 or 3 controllers"
    )
    assert cli.main(["check", "--config", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [line]
    assert captured.out.startswith("ok: 2 nodes")

    assert cli.main(["check", "--strict", "--config", str(path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == line
    assert err[1] == (
        "error: 1 warning(s) and --strict; the check fails (act on them, or run without --strict)"
    )
