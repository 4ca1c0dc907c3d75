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
from generator.init_dir import init_workdir
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


def _records() -> list[Path]:
    return sorted((user_cache_root() / "configure").glob("*.json"))  # type: ignore[operator]


@pytest.fixture(autouse=True)
def _not_racy(monkeypatch: pytest.MonkeyPatch) -> None:
    # A generator file edited in the last 2 s (a developer's, right before the run) would
    # keep runs from being remembered; only the test of that rule wants it.
    monkeypatch.setattr(unchanged, "RACY_NS", 0)


def _remembered(workdir: Path) -> Path:
    configure(workdir / "cluster.yaml")  # the fixture's run may have been "racy"
    return workdir


def _skips(workdir: Path) -> bool:
    run = unchanged.last_run(workdir / "cluster.yaml", discover_age_key(workdir))
    return run.unchanged is not None


def test_nothing_changed_answers_as_the_full_run_without_rendering(workdir: Path) -> None:
    _remembered(workdir)
    before = snapshot(workdir)
    probe = [sys.executable, "-c", _PROBE, str(workdir / "cluster.yaml")]
    out = subprocess.run(probe, capture_output=True, text=True, check=True).stdout
    assert "loaded: []" in out, "nothing changed: no render, no validator"
    assert snapshot(workdir) == before
    quick = configure(workdir / "cluster.yaml")
    assert out.startswith(quick)
    for record in _records():
        record.unlink()
    assert configure(workdir / "cluster.yaml") == quick, "the full run's report"
    assert configure(workdir / "cluster.yaml", validate=False) == quick.splitlines()[0]
    # The record holds no secret, and only this user can read it.
    identity = read_age_key(workdir / "age.key").identity
    assert _records()
    for record in _records():
        assert SECRET_TOKEN not in record.read_text() and identity not in record.read_text()
        assert record.stat().st_mode & 0o077 == 0


def test_any_change_takes_the_full_run(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _remembered(workdir) / "cluster.yaml"
    target = workdir / "kubernetes/flux/cluster/ks.yaml"
    helmrelease = "kubernetes/apps/flux-system/flux-instance/app/helmrelease.yaml"
    manifest = workdir / ".clustergen/manifest.json"

    def change(what: str) -> None:
        if what == "config":
            edit(config, repository__branch="trunk")
        elif what == "side file":
            (workdir / "webhook.token").write_text("a-new-webhook-token-0123456789\n")
        elif what == "output removed":
            target.unlink()
        elif what == "manifest":
            manifest.write_bytes(manifest.read_bytes().replace(b"\n", b"\n\n", 1))
        elif what == "environment":
            monkeypatch.setenv("CLUSTERGEN_UNUSED_SETTING", "1")

    expected = {
        "config": helmrelease,
        "side file": "flux-webhook/app/secret.sops.yaml",
        "output removed": "+ kubernetes/flux/cluster/ks.yaml",
        "manifest": "0 changed",
        "environment": "0 changed",
    }
    for what, report in expected.items():
        assert _skips(workdir), f"before: {what}"
        change(what)
        assert not _skips(workdir), what
        assert report in configure(config, validate=False), what
    assert _skips(workdir), "the full run is remembered again"

    if shutil.which("git") is not None:
        # git's index is read as by a full run: a tracked key file is refused.
        subprocess.run(["git", "init", "-q"], cwd=workdir, check=True)
        subprocess.run(["git", "add", "--force", "webhook.token"], cwd=workdir, check=True)
        with pytest.raises(SideFileError, match=r"webhook\.token is tracked by git"):
            configure(config)
        subprocess.run(["git", "rm", "-q", "--cached", "webhook.token"], cwd=workdir, check=True)

    # A hand edit configure keeps: the tree is not as rendered, so never a skip.
    target.write_text(target.read_text() + "# my note\n")
    assert not _skips(workdir)
    assert main(["configure", "--config", str(config)]) == 0
    assert not _skips(workdir), "a tree with a hand edit is not as rendered"
    # A refused run (a warning under --strict) is not remembered either.
    target.write_text(target.read_text().replace("# my note\n", ""))
    assert main(["configure", "--config", str(config)]) == 0
    assert _skips(workdir)
    edit(config, features__monitoring__enabled=True)
    capsys.readouterr()
    assert main(["configure", "--strict", "--config", str(config)]) == 1
    assert "--strict; nothing was written" in capsys.readouterr().err
    assert not _skips(workdir), "a refused run is not remembered"


def test_a_template_change_changes_the_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    templates = tmp_path / "templates"
    (templates / "config").mkdir(parents=True)
    (templates / "config" / "a.yaml.j2").write_text("a: 1\n")
    monkeypatch.setattr(unchanged, "template_inputs", lambda workdir: [templates])
    config = tmp_path / "cluster.yaml"
    config.write_text("x: 1\n")
    digest, newest = unchanged.input_digest(config, b"k")
    assert newest >= os.stat(templates / "config" / "a.yaml.j2").st_mtime_ns
    (templates / "config" / "a.yaml.j2").write_text("a: 2\n")
    changed = unchanged.input_digest(config, b"k")[0]
    (templates / "config" / "b.yaml.j2").write_text("b: 1\n")
    added = unchanged.input_digest(config, b"k")[0]
    assert len({digest, changed, added}) == 3


def test_a_just_changed_template_is_not_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """File status cannot see an edit within the timestamp granularity: no record then."""
    monkeypatch.setattr(unchanged, "RACY_NS", 2_000_000_000)
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "a.j2").write_text("a\n")
    monkeypatch.setattr(unchanged, "template_inputs", lambda workdir: [templates])
    workdir = tmp_path / "work"
    workdir.mkdir()
    init_workdir(workdir)
    run = unchanged.last_run(workdir / "cluster.yaml", discover_age_key(workdir))
    assert run.digest is None and run.unchanged is None
