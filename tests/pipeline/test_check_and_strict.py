"""`check` runs every check `configure` runs before rendering (side files included), and
`--strict` turns warnings into a refusal that writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.cli import main
from tests.pipeline.conftest import edit, snapshot


def test_check_fails_where_configure_would_on_a_side_file(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(workdir / "cluster.yaml")
    edit(workdir / "cluster.yaml", ingress__mode="cloudflare-tunnel")
    capsys.readouterr()
    assert main(["check", "--config", config]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "error: 1 side file(s) next to cluster.yaml need attention:"
    assert err[1].startswith("  cloudflare-tunnel.json: missing; ingress.mode is cloudflare-tunnel")

    # A TunnelID that is not a UUID would render a DNS target that cannot exist.
    credentials = {"AccountTag": "0" * 32, "TunnelSecret": "A" * 44, "TunnelID": "kubernetes"}
    (workdir / "cloudflare-tunnel.json").write_text(json.dumps(credentials))
    assert main(["check", "--config", config]) == 1
    assert (
        capsys.readouterr()
        .err.splitlines()[1]
        .startswith("  cloudflare-tunnel.json: TunnelID must be the tunnel's UUID like ")
    )
    assert main(["configure", "--no-validate", "--config", config]) == 1
    assert "TunnelID must be the tunnel's UUID" in capsys.readouterr().err

    credentials["TunnelID"] = "6f2a1c3e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"
    (workdir / "cloudflare-tunnel.json").write_text(json.dumps(credentials))
    assert main(["check", "--config", config]) == 0
    assert capsys.readouterr().out.startswith("ok: 3 nodes")


def test_configure_strict_refuses_on_a_warning_and_writes_nothing(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = workdir / "cluster.yaml"
    edit(config, features__monitoring__enabled=True)
    before = snapshot(workdir)
    capsys.readouterr()
    assert main(["configure", "--strict", "--no-validate", "--config", str(config)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("warning: cluster.yaml:")
    assert err[0].endswith(
        " features.monitoring.alerting.receivers: monitoring is on but no receiver is set, so "
        "alerts reach nobody; add a receiver (discord, slack, email, ntfy, pushover or webhook)"
    )
    assert err[1].startswith("error: 1 warning(s) and --strict; nothing was written")
    assert snapshot(workdir) == before
    # Without --strict the warning is printed and the run goes on.
    assert main(["configure", "--no-validate", "--config", str(config)]) == 0
    assert capsys.readouterr().err.startswith("warning: cluster.yaml:")
