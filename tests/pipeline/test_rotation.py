"""The documented age key rotation, followed step by step on a configured workdir."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from generator.cli import main
from generator.secrets.files import iter_secret_files
from generator.secrets.inventory import ROTATION
from generator.secrets.keys import read_age_key
from generator.secrets.metadata import read_metadata
from generator.secrets.sops import Sops

from .test_overlay_flow import encrypt_overlay

OWN = "kubernetes/apps/default/mine/secret.sops.yaml"
OWN_SECRET = b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: mine\nstringData:\n  pw: hunter2\n"


def documented_steps() -> list[str]:
    """The commands of the numbered steps that run on the workstation, in order."""
    steps = re.findall(r"^\d+\. `([^`]+)`", ROTATION, flags=re.M)
    assert steps[0] == "mv age.key age.key.old"
    return steps


def test_rotation_as_documented(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(workdir)
    encrypt_overlay(workdir, "cf-token-in-the-overlay")
    own = workdir / OWN
    own.parent.mkdir(parents=True)
    own.write_bytes(Sops(config=workdir / ".sops.yaml").encrypt(OWN_SECRET, OWN))
    old_public = read_age_key(workdir / "age.key").public

    for step in documented_steps():
        if step == "mv age.key age.key.old":
            shutil.move("age.key", "age.key.old")
            continue
        words = step.split()
        assert words[:3] == ["uv", "run", "clustergen"], step
        args = words[3:]
        if args == ["secrets", "rotate"]:
            # Before rotate, check names exactly the files configure does not own.
            assert main(["secrets", "check"]) == 1
            stale = {line.split(":")[0] for line in capsys.readouterr().out.splitlines()}
            assert {"cluster.secrets.sops.yaml", OWN} <= stale
        assert main(args) == 0, (step, capsys.readouterr())

    new_public = read_age_key(workdir / "age.key").public
    assert new_public != old_public
    secret_files = list(iter_secret_files(workdir))
    assert OWN in secret_files and "cluster.secrets.sops.yaml" in secret_files
    new_key = Sops(age_key_file=workdir / "age.key")
    for path in secret_files:
        content = (workdir / path).read_bytes()
        meta = read_metadata(content, path)
        assert meta is not None and meta.recipients == {new_public}, path
        new_key.decrypt(content, path)  # raises if the new key cannot open it
    assert yaml.safe_load(new_key.decrypt(own.read_bytes(), OWN))["stringData"] == {"pw": "hunter2"}
    overlay = new_key.decrypt((workdir / "cluster.secrets.sops.yaml").read_bytes(), "x.yaml")
    assert yaml.safe_load(overlay) == {"dns": {"token": "cf-token-in-the-overlay"}}
