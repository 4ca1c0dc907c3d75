"""configure with nothing changed answers from generator/unchanged.py, without rendering;
any change to an input or an output takes the full run again."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from generator import unchanged
from generator.cli import main
from generator.errors import SideFileError
from generator.pipeline import configure
from generator.secrets.keys import discover_age_key, read_age_key
from generator.usercache import user_cache_root

from .conftest import SECRET_TOKEN, edit, snapshot

# Prints configure's report, then which heavy modules the process loaded.
_PROBE = """\
import sys
from pathlib import Path
from generator.pipeline import configure
print(configure(Path(sys.argv[1]), validate=True))
heavy = ("jinja2", "jsonschema", "generator.validate")
print("loaded:", sorted(m for m in heavy if m in sys.modules))
"""


def _configure_in_new_process(workdir: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(workdir / "cluster.yaml")],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


def _forget(workdir: Path) -> None:
    for record in (user_cache_root() / "configure").glob("*.json"):  # type: ignore[operator]
        record.unlink()


def test_nothing_changed_answers_without_rendering(workdir: Path) -> None:
    before = snapshot(workdir)
    out = _configure_in_new_process(workdir)
    assert "loaded: []" in out, "nothing changed: no render, no validator"
    assert out.startswith("0 changed (")
    assert snapshot(workdir) == before


def test_the_answer_is_the_full_runs(workdir: Path) -> None:
    quick = configure(workdir / "cluster.yaml")
    _forget(workdir)
    assert configure(workdir / "cluster.yaml") == quick
    assert configure(workdir / "cluster.yaml", validate=False) == quick.splitlines()[0]


def _skips(workdir: Path) -> bool:
    return (
        unchanged.last_run(workdir / "cluster.yaml", discover_age_key(workdir)).unchanged
        is not None
    )


@pytest.mark.parametrize(
    "change", ["config", "side file", "output edited", "output removed", "manifest", "environment"]
)
def test_any_change_takes_the_full_run(
    workdir: Path, change: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _skips(workdir)
    config = workdir / "cluster.yaml"
    target = workdir / "kubernetes/flux/cluster/ks.yaml"
    if change == "config":
        edit(config, repository__branch="trunk")
        assert not _skips(workdir)
        assert "kubernetes/apps/flux-system/flux-instance/app/helmrelease.yaml" in configure(
            config, validate=False
        )
    elif change == "side file":
        (workdir / "webhook.token").write_text("a-new-webhook-token-0123456789\n")
        assert not _skips(workdir)
        assert "flux-webhook/app/secret.sops.yaml" in configure(config, validate=False)
    elif change == "output edited":
        target.write_text(target.read_text() + "# my note\n")
        assert not _skips(workdir)
        assert main(["configure", "--config", str(config)]) == 1
        assert "edited by hand" in capsys.readouterr().err
        assert not _skips(workdir), "a refused run is not remembered"
        return
    elif change == "output removed":
        target.unlink()
        assert not _skips(workdir)
        assert "+ kubernetes/flux/cluster/ks.yaml" in configure(config)
    elif change == "manifest":
        manifest = workdir / ".clustergen/manifest.json"
        manifest.write_bytes(manifest.read_bytes().replace(b"\n", b"\n\n", 1))
        assert not _skips(workdir)
        assert configure(config, validate=False).startswith("0 changed")
    elif change == "environment":
        monkeypatch.setenv("CLUSTERGEN_UNUSED_SETTING", "1")
        assert not _skips(workdir)
        assert configure(config, validate=False).startswith("0 changed")
    assert _skips(workdir), "the full run is remembered again"


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_tracked_key_is_refused_as_by_a_full_run(workdir: Path) -> None:
    assert _skips(workdir)
    subprocess.run(["git", "init", "-q"], cwd=workdir, check=True)
    subprocess.run(["git", "add", "--force", "webhook.token"], cwd=workdir, check=True)
    with pytest.raises(SideFileError, match=r"webhook\.token is tracked by git"):
        configure(workdir / "cluster.yaml")


def test_a_template_change_changes_the_digest(
    tmp_path: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    templates = tmp_path / "templates"
    (templates / "config").mkdir(parents=True)
    (templates / "config" / "a.yaml.j2").write_text("a: 1\n")
    monkeypatch.setattr(unchanged, "template_inputs", lambda: [templates])
    config = (workdir / "cluster.yaml").resolve()
    digest, newest = unchanged.input_digest(config, b"k")
    assert newest >= os.stat(templates / "config" / "a.yaml.j2").st_mtime_ns
    (templates / "config" / "a.yaml.j2").write_text("a: 2\n")
    assert unchanged.input_digest(config, b"k")[0] != digest
    (templates / "config" / "b.yaml.j2").write_text("b: 1\n")
    assert len({digest, unchanged.input_digest(config, b"k")[0]}) == 2


def test_a_just_changed_template_is_not_remembered(
    tmp_path: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """File status cannot see an edit within the timestamp granularity: no record then."""
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "a.j2").write_text("a\n")
    monkeypatch.setattr(unchanged, "template_inputs", lambda: [templates])
    run = unchanged.last_run(workdir / "cluster.yaml", discover_age_key(workdir))
    assert run.digest is None and run.unchanged is None


def test_the_record_holds_no_secret(workdir: Path) -> None:
    configure(workdir / "cluster.yaml")
    records = list((user_cache_root() / "configure").glob("*.json"))  # type: ignore[operator]
    assert records
    identity = read_age_key(workdir / "age.key").identity
    for record in records:
        data = record.read_text()
        assert SECRET_TOKEN not in data and identity not in data
        assert oct(record.stat().st_mode & 0o777) == oct(0o600)
