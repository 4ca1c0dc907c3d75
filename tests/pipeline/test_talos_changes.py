"""configure on a change to talos/: the next step it prints, and the network warning once
the cluster exists (real render, real sops; generator/lifecycle/talos_changes.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.cli import main
from generator.lifecycle.talos_changes import NEXT_STEP
from tests.pipeline.conftest import edit, snapshot


def test_configure_says_talos_changed_and_warns_on_a_fixed_network(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(workdir / "cluster.yaml")
    capsys.readouterr()
    # Before a Talos secret exists: the network may change; the change to talos/ is named.
    edit(workdir / "cluster.yaml", kubernetes__pod_cidr="10.50.0.0/16")
    assert main(["configure", "--no-validate", "--config", config]) == 0
    out, err = capsys.readouterr()
    assert out.rstrip().splitlines()[-1] == NEXT_STEP
    assert "  ~ talos/talconfig.yaml" in out
    assert "warning" not in err
    # A change outside talos/ says nothing of it.
    edit(workdir / "cluster.yaml", features__pod_disruption_budgets__enabled=False)
    assert main(["configure", "--no-validate", "--config", config]) == 0
    assert NEXT_STEP not in capsys.readouterr().out

    (workdir / "talos/talsecret.sops.yaml").write_text("---\n")  # the cluster's PKI: it exists
    edit(workdir / "cluster.yaml", kubernetes__pod_cidr="10.60.0.0/16")
    before = snapshot(workdir)
    assert main(["configure", "--strict", "--no-validate", "--config", config]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("warning: cluster.yaml:")
    assert " kubernetes.pod_cidr: 10.60.0.0/16 differs from 10.50.0.0/16 in " in err[0]
    assert err[1].startswith("error: 1 warning(s) and --strict; nothing was written")
    assert snapshot(workdir) == before
    assert main(["configure", "--no-validate", "--config", config]) == 0  # a warning only
    out, err = capsys.readouterr()
    assert "cannot change it" in err
    assert out.rstrip().splitlines()[-1] == NEXT_STEP
