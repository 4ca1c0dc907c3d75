"""plan_write / apply_plan against real directories."""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

import pytest

from generator.errors import ClusterGenError, WriteConflict
from generator.write import journal, writer
from generator.write.bases import blob_id
from generator.write.fs import OutputRoot
from generator.write.lock import writing
from generator.write.manifest import load_manifest, sha256_hex
from generator.write.writer import (
    HAND_EDITED,
    Resolutions,
    WritePlan,
    WriteSummary,
    WriteWhileValidating,
    apply_plan,
    plan_write,
    stage_plan,
)
from tests.write.saved import save_manifest

TREE = {
    "kubernetes/apps/a/ks.yaml": b"a: 1\n",
    "kubernetes/apps/b/ks.yaml": b"b: 1\n",
    "scripts/run.sh": b"#!/bin/sh\n",
    "README.md": b"readme\n",
}
MODES = {p: (0o755 if p.endswith(".sh") else 0o644) for p in TREE}


def configure(root: Path, tree: dict[str, bytes], force: bool = False) -> WriteSummary:
    plan = plan_write(
        tree, root, load_manifest(root), MODES | {p: 0o644 for p in tree if p not in MODES}
    )
    return apply_plan(plan, root, force=force)


def snapshot(root: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file with content, mode and mtime (ns), the manifest included."""
    return {
        p.relative_to(root).as_posix(): (
            p.read_bytes(),
            p.stat().st_mode & 0o777,
            p.stat().st_mtime_ns,
        )
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_first_write_creates_files_with_modes_and_manifest(tmp_path: Path) -> None:
    summary = configure(tmp_path, TREE)

    assert summary.created == sorted(TREE)
    assert str(summary).startswith("4 created, 0 updated, 0 removed, 0 unchanged")
    assert "  + scripts/run.sh" in str(summary)
    assert (tmp_path / "scripts/run.sh").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "README.md").stat().st_mode & 0o777 == 0o644
    assert set(load_manifest(tmp_path).files) == set(TREE)


def test_second_apply_writes_nothing(tmp_path: Path) -> None:
    configure(tmp_path, TREE)
    before = snapshot(tmp_path)
    os.utime(tmp_path / "README.md", ns=(1, 1))  # an mtime a rewrite could not keep
    before["README.md"] = (*before["README.md"][:2], 1)

    summary = configure(tmp_path, TREE)

    assert str(summary) == "0 changed (4 unchanged)"
    assert snapshot(tmp_path) == before


def test_changed_content_is_updated_atomically_without_temp_files(tmp_path: Path) -> None:
    configure(tmp_path, TREE)

    summary = configure(tmp_path, TREE | {"README.md": b"new\n"})

    assert summary.updated == ["README.md"]
    assert str(summary).splitlines() == [
        "0 created, 1 updated, 0 removed, 3 unchanged",
        "  ~ README.md",
    ]
    assert (tmp_path / "README.md").read_bytes() == b"new\n"
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_files_no_longer_produced_are_removed_and_emptied_dirs_pruned(tmp_path: Path) -> None:
    configure(tmp_path, TREE)
    (tmp_path / "scripts" / "mine.txt").write_text("user file\n")
    (tmp_path / "kubernetes/apps/user-empty").mkdir()
    smaller = {p: b for p, b in TREE.items() if p.startswith("README")}

    summary = configure(tmp_path, smaller)

    assert summary.removed == [
        "kubernetes/apps/a/ks.yaml",
        "kubernetes/apps/b/ks.yaml",
        "scripts/run.sh",
    ]
    assert not (tmp_path / "kubernetes/apps/a").exists()
    assert (tmp_path / "kubernetes/apps/user-empty").is_dir()  # the user's, though empty
    assert (tmp_path / "scripts/mine.txt").read_text() == "user file\n"
    assert set(load_manifest(tmp_path).files) == {"README.md"}


def test_dirs_emptied_by_removal_are_pruned_up_to_root(tmp_path: Path) -> None:
    configure(tmp_path, TREE)

    configure(tmp_path, {"README.md": TREE["README.md"]})

    assert sorted(p.name for p in tmp_path.iterdir()) == [".clustergen", "README.md"]


def test_hand_edited_file_is_a_conflict_and_nothing_is_written(tmp_path: Path) -> None:
    configure(tmp_path, TREE)
    (tmp_path / "kubernetes/apps/a/ks.yaml").write_bytes(b"a: edited\n")
    before = snapshot(tmp_path)

    with pytest.raises(WriteConflict) as err:
        configure(tmp_path, TREE | {"kubernetes/apps/a/ks.yaml": b"a: 2\n", "new.yaml": b"n\n"})

    assert "kubernetes/apps/a/ks.yaml: edited by hand" in str(err.value)
    assert "--force" in str(err.value) and ".orig" in str(err.value)
    assert snapshot(tmp_path) == before


def test_force_overwrites_and_keeps_orig(tmp_path: Path) -> None:
    configure(tmp_path, TREE)
    edited = tmp_path / "kubernetes/apps/a/ks.yaml"
    edited.write_bytes(b"a: edited\n")

    summary = configure(tmp_path, TREE | {"kubernetes/apps/a/ks.yaml": b"a: 2\n"}, force=True)

    assert edited.read_bytes() == b"a: 2\n"
    assert (tmp_path / "kubernetes/apps/a/ks.yaml.orig").read_bytes() == b"a: edited\n"
    assert "(your version saved as kubernetes/apps/a/ks.yaml.orig)" in str(summary)
    # A second forced edit keeps the first backup too.
    edited.write_bytes(b"a: again\n")
    configure(tmp_path, TREE | {"kubernetes/apps/a/ks.yaml": b"a: 3\n"}, force=True)
    assert (tmp_path / "kubernetes/apps/a/ks.yaml.orig").read_bytes() == b"a: edited\n"
    assert (tmp_path / "kubernetes/apps/a/ks.yaml.orig.1").read_bytes() == b"a: again\n"


def test_user_file_at_a_path_we_create_is_a_conflict(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("my own readme\n")

    with pytest.raises(
        WriteConflict, match=r"README\.md: exists but was not written by clustergen"
    ):
        configure(tmp_path, TREE)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]


def test_identical_unowned_file_is_adopted(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_bytes(TREE["README.md"])

    summary = configure(tmp_path, TREE)

    assert summary.unchanged == 1
    assert "README.md" in load_manifest(tmp_path).files


def test_edited_file_we_no_longer_produce_is_kept(tmp_path: Path) -> None:
    configure(tmp_path, TREE)
    (tmp_path / "scripts/run.sh").write_bytes(b"#!/bin/sh\necho mine\n")

    summary = configure(tmp_path, {p: b for p, b in TREE.items() if p != "scripts/run.sh"})

    assert (tmp_path / "scripts/run.sh").read_bytes() == b"#!/bin/sh\necho mine\n"
    assert "kept (edited by you, no longer generated): scripts/run.sh" in str(summary)
    assert "scripts/run.sh" not in load_manifest(tmp_path).files


def test_deleted_generated_file_is_recreated(tmp_path: Path) -> None:
    configure(tmp_path, TREE)
    (tmp_path / "README.md").unlink()

    assert configure(tmp_path, TREE).created == ["README.md"]


@pytest.mark.parametrize(
    ("path", "mode"),
    [("scripts/run.sh", 0o700), ("README.md", 0o755), ("kubernetes/apps/a/ks.yaml", 0o600)],
)
def test_a_mode_the_user_set_is_kept_unchanged_and_on_update(
    tmp_path: Path, path: str, mode: int
) -> None:
    configure(tmp_path, TREE)
    (tmp_path / path).chmod(mode)

    assert configure(tmp_path, TREE).changed == 0
    assert configure(tmp_path, TREE | {path: b"new: 1\n"}).updated == [path]
    assert (tmp_path / path).stat().st_mode & 0o777 == mode


@pytest.mark.parametrize(
    "bad",
    [
        "../escape.yaml",
        "/etc/passwd",
        "a/../../b",
        "a//b",
        ".clustergen/manifest.json",
        ".git/config",
    ],
)
def test_paths_outside_the_tree_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ClusterGenError, match="refusing to write"):
        plan_write({bad: b"x"}, tmp_path / "out", load_manifest(tmp_path / "out"))


def test_symlinked_directory_leading_out_of_root_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "repo", tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    (root / "kubernetes").symlink_to(outside)

    with pytest.raises(
        ClusterGenError, match="refusing to write through kubernetes: it is a symlink"
    ):
        plan_write({"kubernetes/x.yaml": b"x"}, root, load_manifest(root))
    assert list(outside.iterdir()) == []


def test_a_deeper_symlink_back_inside_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "kubernetes" / "apps" / "real").mkdir(parents=True)
    (root / "kubernetes" / "apps" / "link").symlink_to(root / "kubernetes" / "apps" / "real")
    files = {"kubernetes/apps/a.yaml": b"x", "kubernetes/apps/link/b.yaml": b"x"}
    with pytest.raises(ClusterGenError, match="through kubernetes/apps/link: it is a symlink"):
        plan_write(files, root, load_manifest(root))


def test_a_root_reached_through_a_symlink_is_fine(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "via").symlink_to(tmp_path / "real")
    plan = plan_write({"kubernetes/apps/a.yaml": b"x"}, tmp_path / "via", load_manifest(tmp_path))
    apply_plan(plan, tmp_path / "via")
    assert (tmp_path / "real" / "kubernetes" / "apps" / "a.yaml").read_bytes() == b"x"


def test_symlink_at_target_is_refused(tmp_path: Path) -> None:
    (tmp_path / "real.yaml").write_text("mine\n")
    (tmp_path / "link.yaml").symlink_to(tmp_path / "real.yaml")

    with pytest.raises(ClusterGenError, match="symlink or a directory"):
        plan_write({"link.yaml": b"x"}, tmp_path, load_manifest(tmp_path))
    assert (tmp_path / "real.yaml").read_text() == "mine\n"


def test_config_digest_is_recorded(tmp_path: Path) -> None:
    plan = plan_write(TREE, tmp_path, load_manifest(tmp_path), MODES, config_digest="d1")
    apply_plan(plan, tmp_path)

    assert load_manifest(tmp_path).config_digest == "d1"


HR = "kubernetes/apps/a/ks.yaml"
LONG = b"".join(f"k{n}: {n}\n".encode() for n in range(1, 11))


def test_a_hand_edit_merges_with_a_change_elsewhere(tmp_path: Path) -> None:
    configure(tmp_path, TREE | {HR: LONG})
    (tmp_path / HR).write_bytes(LONG.replace(b"k2: 2\n", b"k2: 2\n# mine\n"))

    summary = configure(tmp_path, TREE | {HR: LONG.replace(b"k9: 9", b"k9: 99")})

    assert (tmp_path / HR).read_bytes() == LONG.replace(b"k2: 2\n", b"k2: 2\n# mine\n").replace(
        b"k9: 9", b"k9: 99"
    )
    assert summary.merged == [HR]
    assert f"  M {HR} (merged" in str(summary)
    # The manifest records the render (the next merge's base), not the merged file.
    assert load_manifest(tmp_path).files[HR] == sha256_hex(LONG.replace(b"k9: 9", b"k9: 99"))
    assert str(configure(tmp_path, TREE | {HR: LONG.replace(b"k9: 9", b"k9: 99")})).startswith(
        "0 changed"
    )


def test_a_hand_edit_saved_with_crlf_merges_and_keeps_its_line_endings(tmp_path: Path) -> None:
    configure(tmp_path, TREE | {HR: LONG})
    mine = LONG.replace(b"k2: 2\n", b"k2: 2\n# mine\n")
    (tmp_path / HR).write_bytes(mine.replace(b"\n", b"\r\n"))  # an editor on Windows

    summary = configure(tmp_path, TREE | {HR: LONG.replace(b"k9: 9", b"k9: 99")})

    merged = mine.replace(b"k9: 9", b"k9: 99").replace(b"\n", b"\r\n")
    assert (tmp_path / HR).read_bytes() == merged
    assert summary.merged == [HR]


def test_a_crlf_hand_edit_that_conflicts_names_its_own_lines(tmp_path: Path) -> None:
    configure(tmp_path, TREE | {HR: LONG})
    (tmp_path / HR).write_bytes(LONG.replace(b"k9: 9", b"k9: 7").replace(b"\n", b"\r\n"))

    with pytest.raises(WriteConflict) as raised:
        configure(tmp_path, TREE | {HR: LONG.replace(b"k9: 9", b"k9: 99")})

    assert f"{HR}:9: your edit and the new render" in str(raised.value)
    assert "\r" not in str(raised.value)


def test_a_binary_hand_edit_is_a_conflict_that_says_so(tmp_path: Path) -> None:
    configure(tmp_path, TREE | {HR: LONG})
    (tmp_path / HR).write_bytes(LONG + b"\x00\x01\xff")

    with pytest.raises(WriteConflict) as raised:
        configure(tmp_path, TREE | {HR: LONG.replace(b"k9: 9", b"k9: 99")})

    message = str(raised.value)
    assert f"{HR}: {HAND_EDITED}; it now holds binary data (a NUL byte)" in message
    assert "change the same lines" not in message


def test_a_hand_edit_the_render_leaves_alone_stays(tmp_path: Path) -> None:
    configure(tmp_path, TREE)
    (tmp_path / HR).write_bytes(b"a: 1\n# mine\n")

    summary = configure(tmp_path, TREE | {"new.yaml": b"n\n"})

    assert (tmp_path / HR).read_bytes() == b"a: 1\n# mine\n"
    assert summary.created == ["new.yaml"] and HR not in summary.updated


def test_a_missing_or_altered_base_copy_is_a_conflict_not_a_wrong_merge(tmp_path: Path) -> None:
    configure(tmp_path, TREE | {HR: LONG})
    base = tmp_path / ".clustergen/base" / blob_id(LONG)
    base.write_bytes(LONG.replace(b"k5: 5", b"k5: x"))
    (tmp_path / HR).write_bytes(LONG + b"# mine\n")

    with pytest.raises(WriteConflict, match="no copy of what it wrote to merge with"):
        configure(tmp_path, TREE | {HR: LONG.replace(b"k1: 1", b"k1: 0")})


def test_base_copies_follow_the_renders_and_unused_ones_go(tmp_path: Path) -> None:
    configure(tmp_path, TREE)
    configure(tmp_path, TREE | {HR: b"a: 2\n"})

    stored = sorted(p.name for p in (tmp_path / ".clustergen/base").iterdir())
    tree = TREE | {HR: b"a: 2\n"}
    assert stored == sorted({blob_id(b) for b in tree.values()})
    assert load_manifest(tmp_path).bases == {p: blob_id(b) for p, b in tree.items()}


def test_secrets_get_no_base_copy_and_never_merge(tmp_path: Path) -> None:
    secret = "kubernetes/apps/a/secret.sops.yaml"
    configure(tmp_path, TREE | {secret: LONG})
    (tmp_path / secret).write_bytes(LONG + b"# mine\n")

    assert secret not in load_manifest(tmp_path).bases
    assert not (tmp_path / ".clustergen/base" / blob_id(LONG)).exists()
    with pytest.raises(WriteConflict, match="secrets are never merged"):
        configure(tmp_path, TREE | {secret: LONG.replace(b"k1: 1", b"k1: 0")})


def _resolve(root: Path, tree: dict[str, bytes], **choices: list[str]) -> WriteSummary:
    resolutions = Resolutions(
        frozenset(choices.get("mine", [])), frozenset(choices.get("theirs", []))
    )
    plan = plan_write(tree, root, load_manifest(root), resolutions=resolutions)
    return apply_plan(plan, root)


def test_keep_mine_releases_the_file_for_good(tmp_path: Path) -> None:
    configure(tmp_path, TREE)
    (tmp_path / HR).write_bytes(b"a: mine\n")

    summary = _resolve(tmp_path, TREE | {HR: b"a: 2\n"}, mine=[HR])

    assert (tmp_path / HR).read_bytes() == b"a: mine\n"
    assert f"released (yours now; clustergen no longer writes it): {HR}" in str(summary)
    manifest = load_manifest(tmp_path)
    assert HR not in manifest.files and HR not in manifest.bases and HR in manifest.released
    # Later runs leave it alone; a changed render is said once.
    changed = configure(tmp_path, TREE | {HR: b"a: 3\n"})
    assert f"yours, not written: {HR}" in str(changed)
    assert (tmp_path / HR).read_bytes() == b"a: mine\n"
    assert (
        str(configure(tmp_path, TREE | {HR: b"a: 3\n"})) == f"0 changed ({len(TREE) - 1} unchanged)"
    )


def test_take_theirs_replaces_one_file_and_keeps_yours_as_orig(tmp_path: Path) -> None:
    configure(tmp_path, TREE)
    (tmp_path / HR).write_bytes(b"a: mine\n")

    summary = _resolve(tmp_path, TREE | {HR: b"a: 2\n"}, theirs=[HR])

    assert (tmp_path / HR).read_bytes() == b"a: 2\n"
    assert (tmp_path / f"{HR}.orig").read_bytes() == b"a: mine\n"
    assert f"(your version saved as {HR}.orig)" in str(summary)


def test_choices_name_only_rendered_paths(tmp_path: Path) -> None:
    configure(tmp_path, TREE)

    with pytest.raises(ClusterGenError, match="clustergen does not render that path"):
        _resolve(tmp_path, TREE, mine=["cluster.yaml"])
    with pytest.raises(ClusterGenError, match="a secret cannot be kept as yours"):
        _resolve(tmp_path, TREE | {"x.sops.yaml": b"s\n"}, mine=["x.sops.yaml"])


def test_a_file_written_before_base_copies_merges_on_its_committed_version(
    tmp_path: Path,
) -> None:
    configure(tmp_path, TREE | {HR: LONG})
    # As an older clustergen left it, committed: no base copies, no `bases`.
    shutil.rmtree(tmp_path / ".clustergen/base")
    save_manifest(tmp_path, replace(load_manifest(tmp_path), bases={}))
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "rendered"]):
        subprocess.run([*git, *args], check=True, capture_output=True)
    (tmp_path / HR).write_bytes(LONG + b"# mine\n")

    summary = configure(tmp_path, TREE | {HR: LONG.replace(b"k1: 1", b"k1: 0")})

    assert summary.merged == [HR]
    assert (tmp_path / HR).read_bytes() == LONG.replace(b"k1: 1", b"k1: 0") + b"# mine\n"


def test_choices_take_paths_as_configure_lists_them_or_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path.parent)  # elsewhere: the paths are the output root's

    resolutions = Resolutions.of(tmp_path, [HR], [str(tmp_path / "README.md")])

    assert resolutions == Resolutions(frozenset({HR}), frozenset({"README.md"}))
    with pytest.raises(ClusterGenError, match="not inside"):
        Resolutions.of(tmp_path, ["../elsewhere.yaml"], [])
    with pytest.raises(ClusterGenError, match="both --keep-mine and --take-theirs"):
        Resolutions.of(tmp_path, [HR], [HR])


def test_a_manifest_only_change_is_said(tmp_path: Path) -> None:
    configure(tmp_path, TREE)
    older = replace(load_manifest(tmp_path), generator="0.0.1", config_digest="before")
    save_manifest(tmp_path, older)

    plan = plan_write(TREE, tmp_path, load_manifest(tmp_path), config_digest="after")
    summary = apply_plan(plan, tmp_path)

    text = str(summary).splitlines()
    assert text[0] == "0 changed (4 unchanged)"
    assert text[1].startswith("  manifest updated: recorded clustergen ")
    assert text[1].endswith(" (was 0.0.1)")
    assert text[2] == (
        "  manifest updated: recorded the digest of cluster.yaml (no file renders differently)"
    )
    assert load_manifest(tmp_path).config_digest == "after"
    assert str(configure_with(tmp_path, "after")) == "0 changed (4 unchanged)"


def configure_with(root: Path, digest: str) -> WriteSummary:
    return apply_plan(plan_write(TREE, root, load_manifest(root), config_digest=digest), root)


def test_the_conflict_advice_edits_an_existing_override_never_copies_over_it(
    tmp_path: Path,
) -> None:
    configure(tmp_path, TREE)
    for rel in ("kubernetes/apps/a/ks.yaml", "kubernetes/apps/b/ks.yaml", "README.md"):
        (tmp_path / rel).write_bytes(b"edited\n")
    changed = {"kubernetes/apps/a/ks.yaml": b"a: 2\n", "kubernetes/apps/b/ks.yaml": b"b: 2\n"}
    plan = plan_write(TREE | changed | {"README.md": b"new\n"}, tmp_path, load_manifest(tmp_path))
    plan.origins = {
        "kubernetes/apps/a/ks.yaml": "overrides/kubernetes/apps/a/ks.yaml.j2",
        "kubernetes/apps/b/ks.yaml": "overrides/patches/b.yaml:3",
    }

    with pytest.raises(WriteConflict) as err:
        plan.refuse_conflicts(force=False)

    message = str(err.value)
    assert "copy your version of\n      README.md to overrides/README.md\n" in message
    assert "to overrides/kubernetes/apps/" not in message
    assert (
        "      kubernetes/apps/a/ks.yaml: edit overrides/kubernetes/apps/a/ks.yaml.j2\n"
        "      kubernetes/apps/b/ks.yaml: edit overrides/patches/b.yaml (the patch at line 3)\n"
    ) in message


class BlockedStaging:
    """journal.stage_files held at its start until `release` (a slow disk), then real."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.started, self.go_on = threading.Event(), threading.Event()
        real = journal.stage_files

        def stage_files(
            out: OutputRoot,
            record: journal.Journal,
            data: Mapping[str, bytes],
            cancelled: Callable[[], bool] | None = None,
        ) -> None:
            self.started.set()
            self.go_on.wait(30)
            real(out, record, data, cancelled)

        monkeypatch.setattr(journal, "stage_files", stage_files)


def _temporaries(root: Path) -> list[str]:
    return [
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.name.startswith(".clustergen-") or p.name.startswith("journal")
    ]


def test_an_interrupt_while_the_write_stages_waits_for_it_and_removes_every_stage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On CPython 3.11 an interrupted Thread.join marks the thread stopped while it runs
    # on; commit then returned (and the process exited) mid-staging, stages left behind.
    (tmp_path / ".clustergen").mkdir()
    before = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    blocked = BlockedStaging(monkeypatch)
    write = WriteWhileValidating(plan_write(TREE, tmp_path, load_manifest(tmp_path)), tmp_path)
    waiting = threading.Event()
    real_wait = WriteWhileValidating._wait

    def wait(self: WriteWhileValidating) -> None:
        waiting.set()
        real_wait(self)

    monkeypatch.setattr(WriteWhileValidating, "_wait", wait)
    main = threading.get_ident()
    order: list[str] = []

    def two_interrupts_then_the_disk() -> None:
        waiting.wait(30)
        for _ in range(2):  # a double Ctrl-C
            signal.pthread_kill(main, signal.SIGINT)
            time.sleep(0.1)
        order.append("staging goes on")
        blocked.go_on.set()

    write.start()
    assert blocked.started.wait(30)
    other = threading.Thread(target=two_interrupts_then_the_disk)
    other.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            write.commit()
        order.append("commit raised")
    finally:
        blocked.go_on.set()
        other.join()
    assert order == ["staging goes on", "commit raised"]  # it waited for the thread
    assert write._thread is not None and not write._thread.is_alive()
    # Cut short before the first file: nothing staged, nothing left, no directory made.
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == before
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_lock_stays_held_while_the_write_still_stages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = BlockedStaging(monkeypatch)
    with writing(tmp_path):
        write = WriteWhileValidating(plan_write(TREE, tmp_path, load_manifest(tmp_path)), tmp_path)
        write.start()
        assert blocked.started.wait(30)
    # `writing` has ended (an interrupt unwinding past a skipped abandon, say).
    fd = os.open(tmp_path / ".clustergen" / "lock", os.O_RDWR)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        blocked.go_on.set()
        write.abandon()
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free once the thread has ended
    finally:
        blocked.go_on.set()
        os.close(fd)
    assert _temporaries(tmp_path) == []


@pytest.mark.parametrize("save", ["in place", "by rename", "a new file"])
def test_a_file_saved_after_planning_is_never_overwritten(tmp_path: Path, save: str) -> None:
    # configure plans, then validates for seconds: a save meanwhile must not be lost.
    configure(tmp_path, TREE)
    new = {p: d + b"# changed\n" for p, d in TREE.items()} | {"docs/new.md": b"new\n"}
    plan = plan_write(new, tmp_path, load_manifest(tmp_path), MODES | {"docs/new.md": 0o644})
    rel = "docs/new.md" if save == "a new file" else "README.md"
    target = tmp_path / rel
    if save == "by rename":  # as editors save: a temporary file renamed over the target
        (tmp_path / ".README.md.swp").write_bytes(b"mine\n")
        os.rename(tmp_path / ".README.md.swp", target)
    else:
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(b"mine\n")
    before = snapshot(tmp_path)

    with pytest.raises(
        WriteConflict, match=f"changed while configure ran; nothing was written:\n  {rel}\n"
    ):
        apply_plan(plan, tmp_path)

    assert snapshot(tmp_path) == before  # the save kept, no stage or journal left
    assert _temporaries(tmp_path) == []


_SKIPPED_ABANDON = """
import sys, time
from pathlib import Path
from generator.write.lock import writing
from generator.write.manifest import load_manifest
from generator.write.writer import WriteWhileValidating, plan_write
root = Path(sys.argv[1])
tree = {f"kubernetes/apps/a{n}.yaml": b"a: 1\\n" for n in range(50)}
with writing(root):
    write = WriteWhileValidating(plan_write(tree, root, load_manifest(root)), root)
    write.start()
    while not write._finished:  # staged whole: the stages wait in the tree
        time.sleep(0.01)
    raise SystemExit(130)  # an interrupt that skipped the caller's abandon
"""


def test_stages_whose_abandon_was_skipped_are_removed_at_exit(tmp_path: Path) -> None:
    (tmp_path / ".clustergen").mkdir()
    before = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    done = subprocess.run(
        [sys.executable, "-c", _SKIPPED_ABANDON, str(tmp_path)], capture_output=True, text=True
    )
    assert (done.returncode, done.stderr) == (130, "")
    after = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    assert [p for p in after if p not in before] == [".clustergen/lock"]


def _a_hand_edit_to_force(root: Path) -> WritePlan:
    """The plan of a render that conflicts with a hand edit of kubernetes/apps/a/ks.yaml."""
    configure(root, TREE)
    (root / "kubernetes/apps/a/ks.yaml").write_bytes(b"a: edited\n")
    new = TREE | {"kubernetes/apps/a/ks.yaml": b"a: 2\n"}
    return plan_write(new, root, load_manifest(root), MODES)


def test_a_file_saved_at_the_backup_name_after_staging_is_never_overwritten(
    tmp_path: Path,
) -> None:
    # --force picks a free `.orig` name while staging; a save there before the commit
    # would otherwise be replaced by the backup.
    staged = stage_plan(_a_hand_edit_to_force(tmp_path), tmp_path, force=True)
    try:
        (tmp_path / "kubernetes/apps/a/ks.yaml.orig").write_bytes(b"mine\n")
        with pytest.raises(WriteConflict, match=r"kubernetes/apps/a/ks\.yaml\.orig"):
            staged.commit()
    finally:
        staged.settle()

    assert (tmp_path / "kubernetes/apps/a/ks.yaml.orig").read_bytes() == b"mine\n"
    assert (tmp_path / "kubernetes/apps/a/ks.yaml").read_bytes() == b"a: edited\n"
    assert _temporaries(tmp_path) == []


def test_a_conflicting_file_removed_before_staging_is_a_conflict_not_an_error(
    tmp_path: Path,
) -> None:
    plan = _a_hand_edit_to_force(tmp_path)
    (tmp_path / "kubernetes/apps/a/ks.yaml").unlink()  # while the tree validates

    with pytest.raises(WriteConflict, match="changed while configure ran"):
        stage_plan(plan, tmp_path, force=True)
    assert _temporaries(tmp_path) == []


def test_an_interrupt_while_abandon_waits_removes_the_stages_and_lets_the_lock_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(tmp_path, TREE)
    new = {p: d + b"# changed\n" for p, d in TREE.items()}
    with pytest.raises(KeyboardInterrupt), writing(tmp_path):
        write = WriteWhileValidating(plan_write(new, tmp_path, load_manifest(tmp_path)), tmp_path)
        write.start()
        waited = write._wait

        def wait_then_ctrl_c() -> None:
            waited()
            os.kill(os.getpid(), signal.SIGINT)  # held back, raised when abandon is done

        monkeypatch.setattr(write, "_wait", wait_then_ctrl_c)
        write.abandon()

    assert _temporaries(tmp_path) == []
    with writing(tmp_path):  # in this same process: the lock's copy was let go too
        pass


def test_a_save_right_after_planning_read_the_file_is_never_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The plan looks at a file before it reads it: what it records is never newer than
    # the bytes it planned with.
    configure(tmp_path, TREE)
    real_read = writer._read

    def read_then_saved(target: Path, rel: str) -> bytes | None:
        data = real_read(target, rel)
        if rel == "README.md":
            target.write_bytes(b"mine, saved just now\n")
        return data

    monkeypatch.setattr(writer, "_read", read_then_saved)
    new = {p: d + b"# changed\n" for p, d in TREE.items()}
    plan = plan_write(new, tmp_path, load_manifest(tmp_path), MODES)
    monkeypatch.undo()

    with pytest.raises(WriteConflict, match="changed while configure ran"):
        apply_plan(plan, tmp_path)
    assert (tmp_path / "README.md").read_bytes() == b"mine, saved just now\n"
