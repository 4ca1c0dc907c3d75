"""Fixtures of the golden tests (tests/golden/snapshot.py): the session's reference
renders and the checker."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from tests.fakes import GOLDEN_SIDE
from tests.golden.snapshot import REFERENCE_CONFIGS, SNAPSHOTS, GoldenSnapshots, References, Tree
from tests.rendering import render_config


def _render(config: Path) -> Tree:
    return render_config(config, GOLDEN_SIDE).files


@pytest.fixture(scope="session")
def golden_references() -> References:
    """The reference renders, shared by every golden test of the session (or xdist worker)."""
    return References({n: functools.partial(_render, c) for n, c in REFERENCE_CONFIGS.items()})


@pytest.fixture
def assert_golden(request: pytest.FixtureRequest, golden_references: References) -> GoldenSnapshots:
    update = bool(request.config.getoption("--update-golden"))
    return GoldenSnapshots(SNAPSHOTS, update, golden_references)
