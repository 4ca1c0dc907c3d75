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
from tests.versions import CHANGED, USER_COMMENT, clustergen, git, prepare_upgrade

pytestmark = pytest.mark.slow


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
        "cluster.yaml:9:1 schema_version: cluster.yaml is schema version 1; this clustergen "
        "reads version 2: run `uv run clustergen migrate`"
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
    changed = {
        path for path, data in upgrade.rendered.items() if (repo / path).read_bytes() != data
    }
    assert changed == {CHANGED.rendered, ".clustergen/manifest.json"}
    assert "10.43.0.0/16" in (repo / "talos" / "talconfig.yaml").read_text()
    # What the user commits: the re-rendered file and the manifest, nothing else dirty.
    status = git("status", "--porcelain", cwd=repo).splitlines()
    assert sorted(line[3:] for line in status) == sorted(changed)


def _version_block() -> list[str]:
    return [*(f"# {line}" for line in VERSION_COMMENT), f"{version.KEY}: {version.CURRENT}", ""]
