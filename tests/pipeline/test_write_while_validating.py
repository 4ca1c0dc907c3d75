"""configure stages its write while the tree validates: the stages exist during validation,
land when it passes, and are gone again when it fails or is interrupted."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

import generator.validate
from generator.errors import WriteConflict
from generator.init_dir import init_workdir
from generator.pipeline import WriteBlocked, configure
from generator.validate.documents import Finding
from tests.pipeline.conftest import SECRET_TOKEN, edit

JOURNAL = ".clustergen/journal.json"


def tree(root: Path) -> dict[str, bytes | None]:
    """Every file (bytes) and directory (None) under root but the lock."""
    return {
        p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else None)
        for p in sorted(root.rglob("*"))
        if p.name != "lock"
    }


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The sample, initialized and never configured: the write creates the whole tree."""
    for name in ("SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_RECIPIENTS", "CLUSTERGEN_SOPS"):
        monkeypatch.delenv(name, raising=False)
    init_workdir(tmp_path)
    edit(tmp_path / "cluster.yaml", dns__token=SECRET_TOKEN)
    return tmp_path


def validating(
    monkeypatch: pytest.MonkeyPatch, root: Path, then: Callable[[], list[Finding]]
) -> list[dict[str, bytes | None]]:
    """Replace validate_tree by: wait for the write to be staged, look at the disk, `then`."""
    seen: list[dict[str, bytes | None]] = []
    real = generator.validate.validate_tree

    def validate_tree(files: Mapping[str, bytes], **kwargs: Any) -> list[Finding]:
        findings = real(files, **kwargs)
        deadline = time.monotonic() + 30
        while b'"state": "prepared"' not in _read(root / JOURNAL) or not _staged(root):
            assert time.monotonic() < deadline, "nothing staged during validation"
            time.sleep(0.01)
        seen.append(tree(root))
        return findings + then()

    monkeypatch.setattr(generator.validate, "validate_tree", validate_tree)
    return seen


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _staged(root: Path) -> bool:
    return any(p.name.startswith(".clustergen-stage-") for p in root.rglob("*"))


def test_a_failed_validation_removes_what_was_staged(
    fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = tree(fresh)
    blocked = [Finding("kubernetes/apps/mine.yaml", "refused for the test")]
    seen = validating(monkeypatch, fresh, lambda: blocked)
    with pytest.raises(WriteBlocked, match="refused for the test"):
        configure(fresh / "cluster.yaml")
    assert len(seen) == 1 and len(seen[0]) > len(before)  # staged while validating
    assert tree(fresh) == before  # not a stage, a journal or a directory left


def test_an_interrupt_during_validation_removes_what_was_staged(
    fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = tree(fresh)

    def interrupt() -> list[Finding]:
        raise KeyboardInterrupt

    validating(monkeypatch, fresh, interrupt)
    with pytest.raises(KeyboardInterrupt):
        configure(fresh / "cluster.yaml")
    assert tree(fresh) == before


def test_a_passing_validation_lands_the_staged_write(
    fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = validating(monkeypatch, fresh, list)
    report = configure(fresh / "cluster.yaml")
    assert "validated: no errors" in report
    after = tree(fresh)
    assert JOURNAL not in after and not _staged(fresh)
    assert after["kubernetes/flux/cluster/ks.yaml"]  # the render is in place
    # Nothing of the tree changed during validation but clustergen's own stages.
    staged = {p for p in seen[0] if p not in after}
    assert staged and all(".clustergen-stage-" in p or p == JOURNAL for p in staged)


def test_a_file_saved_while_the_tree_validates_is_never_overwritten(
    fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = fresh / "kubernetes/flux/cluster/ks.yaml"

    def save() -> list[Finding]:
        target.write_text("# mine, saved while configure validated\n")
        return []

    validating(monkeypatch, fresh, save)
    with pytest.raises(WriteConflict, match="changed while configure ran; nothing was written"):
        configure(fresh / "cluster.yaml")
    assert target.read_text() == "# mine, saved while configure validated\n"
    assert JOURNAL not in tree(fresh) and not _staged(fresh)
