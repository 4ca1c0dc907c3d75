"""Suite-wide options. Golden snapshots: `pytest tests/golden --update-golden` rewrites them."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/golden/snapshots/ from the current render (review the git diff)",
    )
