"""The write transaction: all or nothing, recovery after a crash, no write through a link."""

from __future__ import annotations

import json
import os
import select
import signal
import threading
import time
from dataclasses import asdict
from pathlib import Path

import pytest

from generator.write.bases import base_path, blob_id
from generator.write.fs import OutputRoot, WriteError
from generator.write.journal import (
    JOURNAL_PATH,
    FileWrite,
    Journal,
    Removal,
    Staged,
    deferred_signals,
    prune_candidates,
    recover,
    save_journal,
    stage,
    stage_files,
    stage_name,
    transact,
)
from generator.write.manifest import load_manifest
from generator.write.writer import apply_plan, plan_write

TREE = {
    "kubernetes/apps/a/ks.yaml": b"a: 1\n",
    "kubernetes/apps/b/ks.yaml": b"b: 1\n",
    "docs/runbooks/x.md": b"# x\n",
}


def write(root: Path, tree: dict[str, bytes]) -> None:
    apply_plan(plan_write(tree, root, load_manifest(root)), root)


def files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def crash_after_staging(root: Path, new: dict[str, bytes], remove: list[str], state: str) -> None:
    """What a SIGKILL leaves after staging (`prepared`) or after the commit point."""
    journal = Journal(
        writes=[FileWrite(p, stage_name(p, i), 0o644) for i, p in enumerate(sorted(new))],
        removals=[Removal(p) for p in remove],
        prune=prune_candidates(remove),
    )
    for i, item in enumerate([*journal.writes, *journal.removals]):
        item.old = stage_name(item.path, 100 + i, ".clustergen-old-")
    with OutputRoot(root) as out:
        journal.dirs = ["kubernetes/apps/c"]
        save_journal(out, journal)
        stage_files(out, journal, {w.stage: new[w.path] for w in journal.writes})
        journal.state = state
        save_journal(out, journal)


def test_a_write_leaves_no_journal_and_no_temp_file(tmp_path: Path) -> None:
    write(tmp_path, TREE)

    bases = sorted(f".clustergen/base/{blob_id(data)}" for data in TREE.values())
    assert sorted(files(tmp_path)) == sorted([*bases, ".clustergen/manifest.json", *TREE])


def test_a_staged_but_uncommitted_write_is_undone(tmp_path: Path) -> None:
    write(tmp_path, TREE)
    before = files(tmp_path)
    new = {"kubernetes/apps/a/ks.yaml": b"a: 2\n", "kubernetes/apps/c/ks.yaml": b"c: 1\n"}

    crash_after_staging(tmp_path, new, ["docs/runbooks/x.md"], "prepared")
    assert any(".clustergen-stage-" in p for p in files(tmp_path))

    assert recover(tmp_path) == (
        "recovered an interrupted write: undid it (nothing of it had been applied)"
    )
    assert files(tmp_path) == before
    assert not (tmp_path / "kubernetes/apps/c").exists()
    assert recover(tmp_path) is None


def test_a_committed_write_is_finished(tmp_path: Path) -> None:
    write(tmp_path, TREE)
    new = {"kubernetes/apps/a/ks.yaml": b"a: 2\n", "kubernetes/apps/c/ks.yaml": b"c: 1\n"}

    crash_after_staging(tmp_path, new, ["docs/runbooks/x.md"], "committed")

    assert recover(tmp_path) == "recovered an interrupted write: finished it (3 file change(s))"
    after = files(tmp_path)
    assert after["kubernetes/apps/a/ks.yaml"] == b"a: 2\n"
    assert after["kubernetes/apps/c/ks.yaml"] == b"c: 1\n"
    assert "docs/runbooks/x.md" not in after and not (tmp_path / "docs").exists()
    assert not any(".clustergen-" in p for p in after)


def test_an_unreadable_journal_is_reported(tmp_path: Path) -> None:
    (tmp_path / ".clustergen").mkdir()
    (tmp_path / JOURNAL_PATH).write_text("{not json")

    with pytest.raises(WriteError, match=r"journal\.json cannot be used .*delete the journal"):
        recover(tmp_path)


def test_a_directory_swapped_for_a_symlink_after_planning_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "repo", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    write(root, TREE)
    plan = plan_write(
        {**TREE, "kubernetes/apps/a/ks.yaml": b"a: 2\n", "kubernetes/apps/a/new.yaml": b"n\n"},
        root,
        load_manifest(root),
    )
    # Swapped while validation runs: the real directory moves away, a link takes its place.
    (root / "kubernetes/apps").rename(tmp_path / "moved")
    (root / "kubernetes/apps").symlink_to(outside)

    with pytest.raises(WriteError) as err:
        apply_plan(plan, root)

    assert str(err.value) == (
        f"refusing to write through kubernetes/apps: it is a symlink (to {outside}); "
        f"clustergen writes only into real directories inside {root}. Replace the link with "
        "a directory and run again; nothing was changed"
    )
    assert list(outside.iterdir()) == []
    assert not (root / JOURNAL_PATH).exists()


def test_a_symlinked_output_directory_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    root, outside = tmp_path / "repo", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "docs").symlink_to(outside)

    with pytest.raises(WriteError) as err:
        plan_write(TREE, root, load_manifest(root))

    assert str(err.value) == (
        f"refusing to write through docs: it is a symlink (to {outside}); clustergen writes "
        f"only into real directories inside {root}. Replace the link with a directory and "
        "run again"
    )


def test_a_file_where_a_directory_belongs_names_it(tmp_path: Path) -> None:
    write(tmp_path, TREE)
    plan = plan_write(
        {**TREE, "kubernetes/apps/d/ks.yaml": b"d\n"}, tmp_path, load_manifest(tmp_path)
    )
    (tmp_path / "kubernetes/apps/d").write_text("mine\n")
    before = files(tmp_path)

    with pytest.raises(WriteError) as err:
        apply_plan(plan, tmp_path)

    assert str(err.value) == (
        "cannot write into kubernetes/apps/d: a file is where clustergen needs a directory; "
        "move it away and run again; nothing was changed"
    )
    assert files(tmp_path) == before


def test_transact_keeps_backups_and_modes(tmp_path: Path) -> None:
    (tmp_path / "kubernetes").mkdir()
    (tmp_path / "kubernetes/x.yaml").write_text("mine\n")

    transact(
        tmp_path,
        {"kubernetes/x.yaml": b"ours\n"},
        {"kubernetes/x.yaml": 0o640},
        [],
        None,
        {"kubernetes/x.yaml": ("kubernetes/x.yaml.orig", 0o600)},
    )

    assert (tmp_path / "kubernetes/x.yaml").read_text() == "ours\n"
    assert (tmp_path / "kubernetes/x.yaml").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "kubernetes/x.yaml.orig").read_text() == "mine\n"
    assert (tmp_path / "kubernetes/x.yaml.orig").stat().st_mode & 0o777 == 0o600


def test_a_journal_naming_files_clustergen_never_writes_is_refused(tmp_path: Path) -> None:
    # Never committed (.gitignore), but a pull request could add one.
    (tmp_path / "age.key").write_text("AGE-SECRET-KEY-1…\n")
    (tmp_path / ".clustergen").mkdir()
    forged = Journal(state="committed", removals=[Removal("age.key")])
    (tmp_path / JOURNAL_PATH).write_bytes(forged.dump())

    with pytest.raises(WriteError) as err:
        recover(tmp_path)

    assert str(err.value) == (
        ".clustergen/journal.json cannot be used (it names age.key, which clustergen never "
        "writes); it records a write that was interrupted. Check the working tree with "
        "`git status`, then delete the journal and run again"
    )
    assert (tmp_path / "age.key").exists()


def test_a_stage_that_cannot_be_created_rolls_back_every_stage(tmp_path: Path) -> None:
    write(tmp_path, TREE)
    before = files(tmp_path)
    # Where the second file's stage goes (stages are numbered in path order), a directory:
    # creating that stage fails while the other stages are created alongside it.
    blocker = tmp_path / stage_name("kubernetes/apps/a/ks.yaml", 1)
    blocker.mkdir()
    (blocker / "keep").write_bytes(b"")
    new = {path: data + b"# changed\n" for path, data in TREE.items()}

    with pytest.raises(WriteError, match=r"kubernetes/apps/a/ks\.yaml"):
        transact(tmp_path, new, dict.fromkeys(new, 0o644), [], None)

    after = files(tmp_path)
    assert after.pop(f"{stage_name('kubernetes/apps/a/ks.yaml', 1)}/keep") == b""
    assert after == before
    assert not (tmp_path / JOURNAL_PATH).exists()


def test_an_interrupted_write_of_merge_bases_is_finished(tmp_path: Path) -> None:
    write(tmp_path, TREE)
    old, new_base = (base_path(blob_id(data)) for data in (b"a: 1\n", b"a: 2\n"))
    new = {"kubernetes/apps/c/ks.yaml": b"a: 2\n", new_base: b"a: 2\n"}

    crash_after_staging(tmp_path, new, [old], "committed")

    assert recover(tmp_path) == "recovered an interrupted write: finished it (3 file change(s))"
    after = files(tmp_path)
    assert after[new_base] == b"a: 2\n" and old not in after


def test_a_journal_naming_a_base_path_of_another_shape_is_refused(tmp_path: Path) -> None:
    (tmp_path / ".clustergen").mkdir()
    (tmp_path / ".clustergen/manifest.json").write_text("{}")
    forged = Journal(state="committed", removals=[Removal(".clustergen/base/../manifest.json")])
    (tmp_path / JOURNAL_PATH).write_bytes(forged.dump())

    with pytest.raises(WriteError, match="which clustergen never writes"):
        recover(tmp_path)
    assert (tmp_path / ".clustergen/manifest.json").exists()


def test_a_staged_write_changes_nothing_until_committed(tmp_path: Path) -> None:
    """`stage` (configure's, while the tree validates) leaves every target as it was: a
    `settle` removes the stages and the directories made for them, a crash leaves a
    `prepared` journal the next run rolls back, a commit lands the write."""
    write(tmp_path, TREE)
    before = dirs_and_files(tmp_path)
    new = {**{p: d + b"# changed\n" for p, d in TREE.items()}, "kubernetes/apps/c/ks.yaml": b"c\n"}

    staged = stage(tmp_path, new, dict.fromkeys(new, 0o644), ["docs/runbooks/x.md"], None)
    during = dirs_and_files(tmp_path)
    assert {p: during[p] for p in before} == before  # every target as it was
    staged.settle()
    assert dirs_and_files(tmp_path) == before

    stage(tmp_path, new, dict.fromkeys(new, 0o644), [], None)  # then the process dies
    assert b'"prepared"' in (tmp_path / JOURNAL_PATH).read_bytes()
    assert recover(tmp_path) is not None
    assert dirs_and_files(tmp_path) == before

    stage(tmp_path, new, dict.fromkeys(new, 0o644), [], None).commit()
    assert {p: d for p, d in files(tmp_path).items() if p in new} == new


def dirs_and_files(root: Path) -> dict[str, bytes | None]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes() if p.is_file() else None
        for p in sorted(root.rglob("*"))
    }


def test_the_journal_holds_every_field_and_reads_back() -> None:
    journal = Journal(
        state="committed",
        dirs=["kubernetes/c"],
        writes=[FileWrite("kubernetes/c/x.yaml", "kubernetes/c/.clustergen-stage-0", 420)],
        removals=[Removal("docs/x.md", "docs/.clustergen-old-1")],
        manifest_stage=".clustergen/.clustergen-stage-2",
        prune=["docs"],
    )
    assert json.loads(journal.dump()) == asdict(journal)
    assert Journal.parse(journal.dump()) == journal


@pytest.mark.parametrize("through", ["transact", "apply_plan"])
def test_an_interrupt_before_the_commit_point_leaves_the_tree_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, through: str
) -> None:
    """SIGINT (or SIGTERM, which the CLI turns into the same) raised as the commit starts,
    before it holds signals back: the stages go, as after an interrupt while staging."""
    write(tmp_path, TREE)
    before = dirs_and_files(tmp_path)

    def interrupted(self: Staged) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Staged, "_commit", interrupted)
    new = {**{p: d + b"# changed\n" for p, d in TREE.items()}, "kubernetes/apps/c/ks.yaml": b"c\n"}
    with pytest.raises(KeyboardInterrupt):
        if through == "transact":
            transact(tmp_path, new, dict.fromkeys(new, 0o644), [], None)
        else:
            write(tmp_path, new)
    assert dirs_and_files(tmp_path) == before


def test_an_interrupt_while_the_journal_is_saved_leaves_no_temporary_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journal is written beside itself, then renamed: an interrupt in between (its
    fsync takes a while) rolls back and leaves no `journal.json.tmp` either."""
    write(tmp_path, TREE)
    before = dirs_and_files(tmp_path)
    rename = OutputRoot.rename

    def interrupted(self: OutputRoot, rel: str, new_rel: str) -> None:
        if new_rel == JOURNAL_PATH:
            raise KeyboardInterrupt
        rename(self, rel, new_rel)

    monkeypatch.setattr(OutputRoot, "rename", interrupted)
    new = {p: d + b"# changed\n" for p, d in TREE.items()}
    with pytest.raises(KeyboardInterrupt):
        transact(tmp_path, new, dict.fromkeys(new, 0o644), [], None)
    assert dirs_and_files(tmp_path) == before


def test_signals_are_held_back_even_when_another_thread_takes_them() -> None:
    """The kernel may hand SIGINT to any thread not blocking it (a worker thread still
    exiting); Python then runs the handler in the main thread all the same. Inside
    `deferred_signals` that only notes it: KeyboardInterrupt comes at the end."""
    ready, done = threading.Event(), threading.Event()
    other = threading.Thread(target=lambda: (ready.set(), done.wait(10)))
    other.start()
    ready.wait(10)
    steps: list[str] = []
    # The C-level handler writes to the wakeup fd as it runs (in `other`): waited for, not
    # slept for, so a busy machine that schedules `other` late does not fail the test.
    woken, wake = os.pipe()
    os.set_blocking(wake, False)
    previous = signal.set_wakeup_fd(wake)
    try:
        with pytest.raises(KeyboardInterrupt), deferred_signals():
            assert other.ident is not None
            signal.pthread_kill(other.ident, signal.SIGINT)
            assert select.select([woken], [], [], 10)[0], "SIGINT never arrived"
            time.sleep(0.01)  # the Python handler runs in the main thread meanwhile
            steps.append("the write went on")
            time.sleep(0.01)
            steps.append("to its end")
    finally:
        signal.set_wakeup_fd(previous)
        os.close(woken)
        os.close(wake)
        done.set()
        other.join()
    assert steps == ["the write went on", "to its end"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
