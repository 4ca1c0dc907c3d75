"""The write transaction: stage, journal, apply, commit; and recovery after a crash.

A write goes through these steps (see DESIGN.md, "Writing"):

1. The journal (`.clustergen/journal.json`, state `prepared`) lists every
   directory to make, every file to stage beside its target under a
   clustergen-owned temp name (`.clustergen-stage-N`), every removal, and
   the staged new manifest. Nothing has changed yet.
2. Each new file is written to its stage name and fsynced. The file it
   replaces (and each file to remove) gets a second hard link
   (`.clustergen-old-N`), so the write can be undone until the end.
3. The journal is rewritten with state `committed`: from here the write
   is rolled forward, whatever happens.
4. Stages are renamed over their targets, removals unlinked, the staged
   manifest renamed into place, the old links dropped, the journal removed.
   SIGINT and SIGTERM are held back from step 3 to the end.

A disk error while staging rolls back at once. A rename the disk refuses
during step 4 (an immutable file, say) would fail on every retry, so the
journal turns `undoing` and the applied part is put back from the old links.

`recover` runs at the start of every writing command, under the lock: a
`prepared` journal is rolled back (stages, old links and made directories
removed), an `undoing` one undone, a `committed` one rolled forward. Either
way the tree is consistent again. A journal naming anything a clustergen
write cannot touch is refused, never acted on.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path, PurePosixPath

from generator.held_signals import deferred_signals
from generator.write.bases import BASE_PATH
from generator.write.fs import OutputRoot, WriteError, os_reason
from generator.write.ownership import output_scope

JOURNAL_PATH = ".clustergen/journal.json"
JOURNAL_TEMP = JOURNAL_PATH + ".tmp"
MANIFEST_REL = ".clustergen/manifest.json"
STAGE_PREFIX = ".clustergen-stage-"
OLD_PREFIX = ".clustergen-old-"
_TEMP = re.compile(r"\.clustergen-(stage|old)-[0-9]+")
_BACKUP = re.compile(r"\.orig(\.[0-9]+)?$")
# Where a secret's replaced version goes under --force (writer.py keeps it in step).
SECRET_BACKUP_DIR = ".clustergen/orig"
# Staged files kept open until their fsync (well under the usual limit of 1024 fds).
_OPEN_STAGES = 256


class Cancelled(Exception):
    """Staging stopped early because its caller gave the write up (`stage`'s `cancelled`)."""


@dataclass
class FileWrite:
    path: str
    stage: str
    mode: int
    old: str | None = None  # a second link to the replaced file while the write is open
    existed: bool = False  # a file was there before (kept as `old` where links work)


@dataclass
class Removal:
    path: str
    old: str | None = None


@dataclass
class Journal:
    state: str = "prepared"
    dirs: list[str] = field(default_factory=list)  # made by this write, parents first
    writes: list[FileWrite] = field(default_factory=list)
    removals: list[Removal] = field(default_factory=list)
    manifest_stage: str | None = None
    # Directories our removals may have emptied: pruned after the write.
    prune: list[str] = field(default_factory=list)

    def dump(self) -> bytes:
        # One line, by the C encoder: `indent` takes json's pure-Python one, ~10 ms for a
        # whole tree, twice per write.
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["writes"] = [vars(w) for w in self.writes]
        data["removals"] = [vars(r) for r in self.removals]
        return (json.dumps(data, sort_keys=True) + "\n").encode()

    @classmethod
    def parse(cls, raw: bytes) -> Journal:
        data = json.loads(raw)
        return cls(
            state=str(data["state"]),
            dirs=[str(d) for d in data["dirs"]],
            writes=[FileWrite(**w) for w in data["writes"]],
            removals=[Removal(**r) for r in data["removals"]],
            manifest_stage=data.get("manifest_stage"),
            prune=[str(d) for d in data.get("prune", [])],
        )


def stage_name(rel: str, n: int, prefix: str = STAGE_PREFIX) -> str:
    """A clustergen-owned temp name beside rel: never `*.sops.*`, never YAML."""
    parent = PurePosixPath(rel).parent
    return (parent / f"{prefix}{n}").as_posix()


def transact(
    root: Path,
    files: Mapping[str, bytes],
    modes: Mapping[str, int],
    removals: list[str],
    manifest: bytes | None,
    backups: Mapping[str, tuple[str, int]] | None = None,
) -> None:
    """Write `files` (rel → bytes, with `modes`), remove `removals`, then put `manifest`.

    `backups` (rel → (backup rel, mode)) keeps the current bytes of rel under the
    backup name. All or nothing: WriteError (path and OS reason) leaves the
    tree as it was.
    """
    staged = stage(root, files, modes, removals, manifest, backups)
    try:
        staged.commit()
    finally:
        staged.settle()


def stage(
    root: Path,
    files: Mapping[str, bytes],
    modes: Mapping[str, int],
    removals: list[str],
    manifest: bytes | None,
    backups: Mapping[str, tuple[str, int]] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Staged:
    """Steps 1 and 2 of `transact`: the journal (`prepared`) and every stage, fsynced. The
    tree itself is not changed yet: `Staged.commit` changes it, `Staged.settle` (or the
    next run's `recover`, after a crash) removes every stage again. WriteError (stages
    removed) as `transact`.

    The caller calls `commit` in a `try` whose `finally` calls `settle`, right where this
    returns: an interrupt (SIGINT, or SIGTERM as the CLI raises it) is raised in Python at
    a function's entry, so one at `commit`'s own entry, before it holds signals back, is
    settled by the caller's `finally`.

    `cancelled` is asked between files: once it says True, staging stops, the stages are
    removed and Cancelled is raised (a write staged in a thread that its caller gave up)."""
    journal = Journal()
    n = 0
    out = OutputRoot(root)
    try:
        staged_data: dict[str, bytes] = {}
        for rel, (backup, mode) in sorted((backups or {}).items()):
            current = _read(out, rel)
            journal.writes.append(FileWrite(backup, stage_name(backup, n), mode))
            staged_data[journal.writes[-1].stage] = current
            n += 1
        for rel in sorted(files):
            journal.writes.append(FileWrite(rel, stage_name(rel, n), modes[rel]))
            staged_data[journal.writes[-1].stage] = files[rel]
            n += 1
        for rel in removals:
            journal.removals.append(Removal(rel))
        # Named before staging, so a rollback after a crash knows every name to clean.
        for item in _linked(journal):
            item.old = stage_name(item.path, n, OLD_PREFIX)
            n += 1
        journal.prune = prune_candidates(removals)
        if manifest is not None:
            journal.manifest_stage = stage_name(MANIFEST_REL, n)
            staged_data[journal.manifest_stage] = manifest
        try:
            journal.dirs = _missing_dirs(out, [w.path for w in journal.writes])
            save_journal(out, journal)
            stage_files(out, journal, staged_data, cancelled)
            return Staged(out, journal)  # here: an interrupt at its creation rolls back too
        except WriteError as err:
            with deferred_signals():
                _roll_back(out, journal)
            raise WriteError(f"{err}; nothing was changed") from None
        except BaseException:
            with deferred_signals():
                _roll_back(out, journal)
            raise
    except BaseException:
        out.close()
        raise


class Staged:
    """A write staged by `stage`: every new file beside its target, nothing applied."""

    def __init__(self, out: OutputRoot, journal: Journal) -> None:
        self._out = out
        self._journal = journal
        self._settled = False

    def commit(self) -> None:
        """Steps 3 and 4: the commit point, then the stages over their targets. WriteError
        as `transact` (the tree as it was, or as the next run's recovery leaves it)."""
        try:
            self._commit()
        finally:
            self.settle()

    def _commit(self) -> None:
        out, journal = self._out, self._journal
        with deferred_signals():
            journal.state = "committed"
            try:
                save_journal(out, journal)
            except WriteError as err:
                _roll_back(out, journal)
                raise WriteError(f"{err}; nothing was changed") from None
            try:
                _apply(out, journal)
            except WriteError as err:
                # A rename the disk refuses now (an immutable file, say) would fail on every
                # retry too: undo instead, so the tree is as it was.
                raise WriteError(f"{err}; {_undo_or_leave(out, journal)}") from None
            _finish(out, journal)

    def settle(self) -> None:
        """Remove every stage and the journal unless the commit point was passed (the tree
        is then as it was before `stage`); close the directories. Once; idempotent."""
        if self._settled:
            return
        self._settled = True
        # Held back: a Ctrl-C half way through the roll-back would leave stages behind.
        with self._out, deferred_signals():
            if self._journal.state == "prepared":
                _roll_back(self._out, self._journal)


def _undo_or_leave(out: OutputRoot, journal: Journal) -> str:
    try:
        journal.state = "undoing"
        save_journal(out, journal)
        _undo(out, journal)
        _roll_back(out, journal)
    except WriteError:
        return "the next clustergen run in this directory completes or undoes the write"
    return "nothing was changed"


def recover(root: Path) -> str | None:
    """Finish or undo a write a crash interrupted; the one-line report, or None."""
    path = root / JOURNAL_PATH
    if not path.is_file():
        _drop_journal_temps(root)
        return None
    try:
        journal = Journal.parse(path.read_bytes())
        _check_journal(journal)
    except (ValueError, KeyError, TypeError) as err:
        raise WriteError(
            f"{JOURNAL_PATH} cannot be used ({err}); it records a write that was interrupted. "
            "Check the working tree with `git status`, then delete the journal and run again"
        ) from None
    with OutputRoot(root) as out, deferred_signals():
        if journal.state == "committed":
            _apply(out, journal)
            _finish(out, journal)
            done = len(journal.writes) + len(journal.removals)
            return f"recovered an interrupted write: finished it ({done} file change(s))"
        if journal.state == "undoing":
            _undo(out, journal)
        _roll_back(out, journal)
        return "recovered an interrupted write: undid it (nothing of it had been applied)"


def _check_journal(journal: Journal) -> None:
    """ValueError unless the journal names only what a clustergen write can touch.

    It is never committed (.gitignore), but a pull request could add one; without
    this, "recovering" it would rename or remove any file in the repository.
    """
    if journal.state not in ("prepared", "committed", "undoing"):
        raise ValueError(f"unknown state {journal.state!r}")
    scope = output_scope()

    def ours(rel: str) -> bool:
        if BASE_PATH.fullmatch(rel):
            return True
        backup = _BACKUP.sub("", rel)
        if backup != rel:
            rel = backup.removeprefix(f"{SECRET_BACKUP_DIR}/")
        return scope.renders(rel)

    def temp_beside(name: str | None, rel: str) -> bool:
        return name is None or (
            _TEMP.fullmatch(PurePosixPath(name).name) is not None
            and PurePosixPath(name).parent == PurePosixPath(rel).parent
        )

    for item in _linked(journal):
        if not ours(item.path):
            raise ValueError(f"it names {item.path}, which clustergen never writes")
        stage = item.stage if isinstance(item, FileWrite) else None
        if not (temp_beside(stage, item.path) and temp_beside(item.old, item.path)):
            raise ValueError(f"its temporary names for {item.path} are not clustergen's")
    if not temp_beside(journal.manifest_stage, MANIFEST_REL):
        raise ValueError("its staged manifest is not clustergen's")
    parents = {
        p.as_posix() for i in _linked(journal) for p in PurePosixPath(i.path).parents if p.parts
    }
    if not {*journal.dirs, *journal.prune} <= parents:
        raise ValueError("it names directories no file of the write is in")


def stage_files(
    out: OutputRoot,
    journal: Journal,
    data: Mapping[str, bytes],
    cancelled: Callable[[], bool] | None = None,
) -> None:
    made: list[str] = []
    try:
        for rel in journal.dirs:
            out.dir_fd(rel, create=made)
    finally:
        # Only directories this write made are ever removed again.
        journal.dirs = [d for d in journal.dirs if d in made] + [
            d for d in made if d not in journal.dirs
        ]
    # Nothing is in a directory this write made: no target there to look at.
    fresh = set(made)
    # fsynced together, not one by one: concurrent fsyncs share the disk's commits.
    unsynced: list[tuple[int, str]] = []
    try:
        for write in journal.writes:
            if cancelled is not None and cancelled():
                raise Cancelled
            if _parent(write.path) not in fresh:
                _check_target(out, write.path)
            out.create(
                write.stage, data[write.stage], write.mode, for_path=write.path, unsynced=unsynced
            )
            if len(unsynced) >= _OPEN_STAGES:
                out.sync_files(unsynced)
        if journal.manifest_stage is not None:
            out.dir_fd(".clustergen", create=[])
            stage = journal.manifest_stage
            out.create(stage, data[stage], 0o644, for_path=MANIFEST_REL, unsynced=unsynced)
    except BaseException:
        for fd, _ in unsynced:
            os.close(fd)
        raise
    out.sync_files(unsynced)
    for item in _linked(journal):
        exists = _parent(item.path) not in fresh and _check_target(out, item.path)
        if isinstance(item, FileWrite):
            item.existed = exists
        if item.old is not None and not (exists and out.link(item.path, item.old)):
            item.old = None  # nothing to keep (a new file), or links unsupported here


def _check_target(out: OutputRoot, rel: str) -> bool:
    """Whether a file is at rel; WriteError when something else is."""
    st = out.lstat(rel)
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise WriteError(
            f"{rel} is a symlink or a directory where clustergen writes a file; "
            "move it away and run again"
        )
    return st is not None


def _apply(out: OutputRoot, journal: Journal) -> None:
    """Stages over targets, removals, the manifest. Idempotent: a retry skips what is done."""
    for write in journal.writes:
        if out.lstat(write.stage) is not None:
            out.rename(write.stage, write.path)
    for removal in journal.removals:
        if removal.old is None or out.lstat(removal.old) is not None:
            out.unlink(removal.path)
    if journal.manifest_stage is not None and out.lstat(journal.manifest_stage) is not None:
        out.rename(journal.manifest_stage, MANIFEST_REL)
    out.fsync_dirs()


def _finish(out: OutputRoot, journal: Journal) -> None:
    """After a complete apply: drop the old links, prune emptied directories, end the journal."""
    _drop_olds(out, journal)
    _prune(out, journal.prune)
    out.unlink(JOURNAL_PATH)
    # Only where this step removed something: `_apply` made every rename durable already.
    olds = [item.old for item in _linked(journal) if item.old is not None]
    out.fsync_dirs({_parent(rel) for rel in [JOURNAL_PATH, *olds, *journal.prune]})


def _undo(out: OutputRoot, journal: Journal) -> None:
    """Put back what an incomplete apply replaced or removed. Idempotent."""
    if journal.manifest_stage is not None:
        out.unlink(journal.manifest_stage)  # the manifest is renamed last: never applied here
    for write in journal.writes:
        if out.lstat(write.stage) is not None:
            continue  # not applied; _roll_back removes the stage
        if write.old is not None:
            if out.lstat(write.old) is not None:
                out.rename(write.old, write.path)
        elif not write.existed:
            out.unlink(write.path)
    for removal in journal.removals:
        old = removal.old
        if old is not None and out.lstat(old) is not None and out.lstat(removal.path) is None:
            out.rename(old, removal.path)


def _roll_back(out: OutputRoot, journal: Journal) -> None:
    """Remove every stage and old link, and the directories the write made, then the journal.

    A directory that can no longer be opened safely (swapped for a link, say)
    holds nothing of ours to remove: the error that stopped the write says why.
    """
    temps = [w.stage for w in journal.writes] + [i.old for i in _linked(journal) if i.old]
    if journal.manifest_stage is not None:
        temps.append(journal.manifest_stage)
    for rel in temps:
        with contextlib.suppress(WriteError):
            out.unlink(rel)
    for rel in reversed(journal.dirs):
        out.rmdir_if_empty(rel)
    out.unlink(JOURNAL_PATH)
    out.unlink(JOURNAL_TEMP)  # an interrupt between writing the journal and its rename
    out.fsync_dirs()


def _parent(rel: str) -> str:
    parent = PurePosixPath(rel).parent.as_posix()
    return "" if parent == "." else parent


def _drop_olds(out: OutputRoot, journal: Journal) -> None:
    for item in _linked(journal):
        if item.old is not None:
            out.unlink(item.old)


def _prune(out: OutputRoot, candidates: list[str]) -> None:
    for rel in candidates:  # deepest first
        out.rmdir_if_empty(rel)


def prune_candidates(removed: list[str]) -> list[str]:
    parents = {PurePosixPath(rel).parent for rel in removed}
    dirs = {p for parent in parents for p in (parent, *parent.parents) if p.parts}
    return [d.as_posix() for d in sorted(dirs, key=lambda p: (-len(p.parts), p.as_posix()))]


def _missing_dirs(out: OutputRoot, paths: list[str]) -> list[str]:
    missing: list[str] = []
    for rel in paths:
        parent = PurePosixPath(rel).parent
        for d in reversed([parent, *parent.parents]):
            if not d.parts or d.as_posix() in missing:
                continue
            try:
                out.dir_fd(d.as_posix())
            except FileNotFoundError:
                missing.append(d.as_posix())
    return missing


def save_journal(out: OutputRoot, journal: Journal) -> None:
    """Write the journal atomically and durably (temp + fsync + rename + fsync dir)."""
    fd = out.dir_fd(".clustergen", create=[])
    tmp = JOURNAL_TEMP
    out.create(tmp, journal.dump(), 0o644, for_path=JOURNAL_PATH)
    out.rename(tmp, JOURNAL_PATH)
    with contextlib.suppress(OSError):
        os.fsync(fd)


def _drop_journal_temps(root: Path) -> None:
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        (root / JOURNAL_TEMP).unlink()


def _read(out: OutputRoot, rel: str) -> bytes:
    fd, name = out.split(rel)
    try:
        handle = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
    except OSError as err:
        raise WriteError(f"cannot read {rel}: {os_reason(err)}") from None
    with os.fdopen(handle, "rb") as fh:
        return fh.read()


def _linked(journal: Journal) -> list[FileWrite | Removal]:
    return [*journal.writes, *journal.removals]
