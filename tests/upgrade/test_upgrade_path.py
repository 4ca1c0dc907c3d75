"""Taking a newer clustergen, end to end, as README "Upgrading clustergen" tells a user to:
a repository rendered by the previous release pulls the current one, then `check`,
`migrate` and `configure`. Real git, real sops and age, clustergen as a process.

The two releases are built from the current tree (tests/versions.py): the previous one
reads schema version 1 (`kubernetes.svc_cidr`) and renders CHANGED's line differently.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.config import version
from generator.migrations import VERSION_COMMENT
from tests.pipeline.conftest import snapshot
from tests.versions import (
    CHANGED,
    USER_COMMENT,
    clustergen,
    current_clustergen,
    git,
    prepare_upgrade,
)

pytestmark = pytest.mark.slow

BASES = ".clustergen/base/"


def test_upgrade_migrates_the_config_and_renders_the_new_templates(tmp_path: Path) -> None:
    upgrade = prepare_upgrade(tmp_path)
    repo = upgrade.repo
    config = repo / "cluster.yaml"
    before = config.read_text(encoding="utf-8")
    assert "  svc_cidr: 10.43.0.0/16\n" in before and "schema_version" not in before
    assert CHANGED.previous.strip().encode() in upgrade.rendered[CHANGED.rendered]

    # The new clustergen refuses the old config, naming the command that migrates it.
    checked = clustergen("check", cwd=repo)
    assert checked.returncode == 1
    assert (
        "cluster.yaml:1:1 schema_version: the key is missing, so cluster.yaml is schema version "
        "1 (as the first release wrote it); this clustergen reads version 2: run "
        "`uv run clustergen migrate`"
    ) in checked.stderr
    assert "svc_cidr" not in checked.stderr  # no pile of schema errors about the old name
    assert config.read_text(encoding="utf-8") == before

    migrated = clustergen("migrate", cwd=repo)
    assert migrated.returncode == 0, migrated.stderr
    assert "renamed kubernetes.svc_cidr to kubernetes.service_cidr" in migrated.stdout
    after = config.read_text(encoding="utf-8")
    assert after == before.replace("  svc_cidr:", "  service_cidr:").replace(
        "\nnetwork:\n", "".join(f"\n{line}" for line in _version_block()) + "\nnetwork:\n", 1
    )
    assert USER_COMMENT in after

    checked = clustergen("check", cwd=repo)
    assert checked.returncode == 0, checked.stderr
    configured = clustergen("configure", cwd=repo)
    assert configured.returncode == 0, configured.stderr
    assert "validated: no errors" in configured.stdout

    # The new template's value lands; everything the rename touched renders as before.
    rendered = (repo / CHANGED.rendered).read_bytes()
    assert CHANGED.current.encode() in rendered
    assert CHANGED.previous.encode() not in rendered
    # Base copies (.clustergen/base/, named by git blob id) follow the files they copy.
    changed = {
        path
        for path, data in upgrade.rendered.items()
        if not path.startswith(BASES) and (repo / path).read_bytes() != data
    }
    assert changed == {CHANGED.rendered, ".clustergen/manifest.json"}
    assert "10.43.0.0/16" in (repo / "talos" / "talconfig.yaml").read_text()
    blob = git("hash-object", CHANGED.rendered, cwd=repo).strip()
    assert (repo / BASES / blob).read_bytes() == rendered
    # What the user commits: the re-rendered file, the manifest and the file's new base copy.
    status = git("status", "--porcelain", "--untracked-files=all", cwd=repo).splitlines()
    dirty = {line[3:] for line in status}
    assert {p for p in dirty if not p.startswith(BASES)} == changed
    assert {p for p in dirty if p.startswith(BASES)} == {
        f"{BASES}{blob}",
        *(p for p in upgrade.rendered if p.startswith(BASES) and not (repo / p).exists()),
    }


def _version_block() -> list[str]:
    return [*(f"# {line}" for line in VERSION_COMMENT), f"{version.KEY}: {version.CURRENT}", ""]


OVERRIDE = f"overrides/{CHANGED.template}"
MARK = "# mine: the echo release as I want it\n"
HAND_EDITED = "kubernetes/apps/kube-system/cilium/app/helmrelease.yaml"
HAND_EDIT = "# mine: a note kept across upgrades\n"


def _override_and_hand_edit(repo: Path) -> None:
    """On release 1: override the template release 2 changes, hand-edit another file, and
    configure, so the manifest records what the override shadowed."""
    override = repo / OVERRIDE
    override.parent.mkdir(parents=True)
    override.write_text(MARK + (repo / "templates" / "config" / CHANGED.template).read_text())
    edited = repo / HAND_EDITED
    edited.write_text(edited.read_text().replace("---\n", f"---\n{HAND_EDIT}", 1))
    result = clustergen("configure", "--no-validate", cwd=repo)
    assert result.returncode == 0, result.stderr


def test_upgrade_names_an_override_of_a_changed_template_and_keeps_hand_edits(
    tmp_path: Path,
) -> None:
    """After the pull, the current release runs in this process (`current_clustergen`):
    the test above runs every step of the upgrade as a child process."""
    repo = prepare_upgrade(tmp_path, customize=_override_and_hand_edit).repo
    assert current_clustergen("migrate", cwd=repo).returncode == 0

    checked = current_clustergen("upgrade", "--check", cwd=repo)
    assert checked.returncode == 0, checked.stderr
    notice = f"templates/config/{CHANGED.template} changed since you overrode it: review {OVERRIDE}"
    assert f"overrides of a changed built-in template:\n  {notice}\n" in checked.stdout
    assert "result: no conflicts; configure will go through" in checked.stdout

    # check names it too; under --strict it refuses, and nothing is written.
    warning = f"warning: {OVERRIDE}: {notice}"
    checked = current_clustergen("check", cwd=repo)
    assert checked.returncode == 0 and warning in checked.stderr.splitlines(), checked.stderr
    before = snapshot(repo)
    strict = current_clustergen("configure", "--strict", "--no-validate", cwd=repo)
    assert strict.returncode == 1 and warning in strict.stderr.splitlines(), strict.stderr
    assert snapshot(repo) == before

    configured = current_clustergen("configure", cwd=repo)
    assert configured.returncode == 0, configured.stderr
    assert warning in configured.stderr.splitlines()
    # No file changes (the override wins), but the manifest does: the summary says so.
    assert configured.stdout.startswith("0 changed"), configured.stdout
    assert (
        f"  manifest updated: recorded the new hash of templates/config/{CHANGED.template}, "
        f"which {OVERRIDE} shadows\n"
    ) in configured.stdout
    # The override still wins (with release 1's value), the hand edit stays.
    rendered = (repo / CHANGED.rendered).read_text()
    assert MARK in rendered and CHANGED.previous in rendered
    assert HAND_EDIT in (repo / HAND_EDITED).read_text()
    # Said once: the manifest now records the new template.
    again = current_clustergen("configure", cwd=repo)
    assert again.returncode == 0 and "changed since you overrode it" not in again.stderr
