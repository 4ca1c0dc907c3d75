"""`reconcile` against a stub flux."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.errors import ClusterGenError
from generator.lifecycle.reconcile import reconcile
from tests.lifecycle.conftest import MakeRepo
from tests.lifecycle.stubs import StubTools

FLUX = (
    "flux reconcile kustomization flux-system --namespace flux-system --with-source "
    "--kubeconfig kubeconfig"
)


def test_reconcile_fetches_the_source_and_applies(tools: StubTools, make_repo: MakeRepo) -> None:
    repo = make_repo("single")
    assert reconcile(repo, dry_run=True).text == FLUX
    assert tools.calls() == []
    report = reconcile(repo)
    assert "✔ applied revision refs/heads/main" in report.text
    assert tools.calls() == [FLUX]


def test_reconcile_uses_an_exported_kubeconfig(
    tools: StubTools, make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    repo = make_repo("single", live=False)
    with pytest.raises(ClusterGenError, match=r"- kubeconfig \(KUBECONFIG\) is missing"):
        reconcile(repo)
    other = tmp_path / "elsewhere.yaml"
    other.write_text("stand-in\n")
    monkeypatch.setenv("KUBECONFIG", str(other))
    notes: list[str] = []
    reconcile(repo, progress=notes.append)
    assert notes[0] == f"note: KUBECONFIG={other} is set: using it instead of ./kubeconfig"
    assert tools.calls() == [FLUX.replace("--kubeconfig kubeconfig", f"--kubeconfig {other}")]
