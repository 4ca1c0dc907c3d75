"""Fixtures of the day-two command tests: stub tools on PATH and rendered repositories."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.lifecycle.repos import rendered_repo
from tests.lifecycle.stubs import StubTools

MakeRepo = Callable[..., Path]


@pytest.fixture
def tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StubTools:
    return StubTools.install(tmp_path, monkeypatch)


@pytest.fixture
def make_repo(tmp_path: Path) -> MakeRepo:
    """`make_repo(shape, live=True)`: a rendered repository under tmp_path."""

    def make(shape: str, *, live: bool = True) -> Path:
        return rendered_repo(tmp_path / f"repo-{shape}", shape, live=live)

    return make
