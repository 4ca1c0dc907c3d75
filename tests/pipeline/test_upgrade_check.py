"""`clustergen upgrade --check` through the CLI: what configure would change, merge, refuse.

The first test runs it as a child process; the others call `cli.main` in this process
(tests/process.py), the same code without the ~0.2 s CPU of a new interpreter."""

from __future__ import annotations

from pathlib import Path

from tests.older_render import as_if_clustergen_wrote
from tests.pipeline.conftest import edit, snapshot
from tests.pipeline.test_hand_edits import CILIUM, DSR, HUBBLE_UI, conflict, env, hand_edit
from tests.process import clustergen_in_process, run_clustergen

MANIFEST = ".clustergen/manifest.json"
# A line the built-in template renders, and what an older template rendered there.
NOW, BEFORE = "  interval: 1h\n", "  interval: 30m\n"


def written_by_older_templates(workdir: Path, path: str) -> None:
    """The state an older clustergen left: its render on disk, in the manifest and as base."""
    older = (workdir / path).read_text().replace(NOW, BEFORE, 1).encode()
    as_if_clustergen_wrote(workdir, path, older)


def upgrade_check(workdir: Path, *, child: bool = False) -> tuple[int, str, str]:
    run = run_clustergen if child else clustergen_in_process
    result = run(["upgrade", "--check"], cwd=workdir, env=env())
    return result.returncode, result.stdout, result.stderr


def test_nothing_changed_reports_nothing(workdir: Path) -> None:
    status, out, err = upgrade_check(workdir, child=True)

    assert status == 0, err
    assert "rendered files the new render changes: none" in out
    assert "hand edits: none" in out
    assert out.rstrip().endswith("result: no conflicts; configure will go through")


def test_a_template_change_and_a_hand_edit_elsewhere_merge(workdir: Path) -> None:
    written_by_older_templates(workdir, CILIUM)
    hand_edit(workdir, CILIUM, *HUBBLE_UI)
    before = snapshot(workdir)

    status, out, err = upgrade_check(workdir)

    assert status == 0, err
    assert snapshot(workdir) == before, "upgrade --check writes nothing"
    assert f"  ~ {CILIUM}\n" in out
    assert f"  merges cleanly: {CILIUM}\n" in out
    # configure does what the check said (in this process: the check is what is tested).
    done = clustergen_in_process(["configure", "--no-validate"], cwd=workdir, env=env())
    assert done.returncode == 0, done.stderr
    assert f"  M {CILIUM}" in done.stdout
    text = (workdir / CILIUM).read_text()
    assert NOW in text and HUBBLE_UI[1] in text


def test_a_conflict_is_reported_with_its_hunk_and_exit_1(workdir: Path) -> None:
    conflict(workdir)
    edit(workdir / "cluster.yaml", cilium__loadbalancer_mode="snat")
    before = snapshot(workdir)

    status, out, _err = upgrade_check(workdir)

    assert status == 1
    assert snapshot(workdir) == before
    assert (
        f"  conflict: {CILIUM}: edited by hand since clustergen wrote it; the merge conflicts"
        in out
    )
    assert '      |       mode: "hybrid"' in out and DSR.strip() in out
    assert "note: cluster.yaml changed since the last configure too" in out
    assert "result: 1 conflict(s); configure will refuse" in out


def test_an_edit_the_render_leaves_alone_is_said_to_stay(workdir: Path) -> None:
    hand_edit(workdir, CILIUM, *HUBBLE_UI)

    status, out, err = upgrade_check(workdir)

    assert status == 0, err
    assert f"  stays as you edited it (the render does not change it): {CILIUM}" in out


def test_without_the_age_key_hand_edits_are_still_checked(workdir: Path) -> None:
    # CI without repository secrets: secrets cannot be compared, plain files can.
    (workdir / "age.key").rename(workdir / "elsewhere.key")
    conflict(workdir)

    status, out, _err = upgrade_check(workdir)

    assert status == 1
    assert "note: no age.key: " in out and " secret file(s) and " in out
    assert f"  conflict: {CILIUM}: " in out


def test_a_file_you_took_over_is_named_when_its_render_changes(workdir: Path) -> None:
    conflict(workdir)
    kept = clustergen_in_process(
        ["configure", "--no-validate", "--keep-mine", CILIUM], cwd=workdir, env=env()
    )
    assert kept.returncode == 0, kept.stderr
    edit(workdir / "cluster.yaml", cilium__loadbalancer_mode="dsr")

    status, out, err = upgrade_check(workdir)

    assert status == 0, err
    assert (
        "files you took over (--keep-mine):\n"
        f"  {CILIUM}: the new render differs; configure leaves it to you\n"
    ) in out
    assert f"~ {CILIUM}" not in out
