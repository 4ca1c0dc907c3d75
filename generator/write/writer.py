"""Write a rendered tree safely: plan first, then write only what changed.

Ownership comes from the manifest (see manifest.py; ownership.py says which
entries are trusted). The plan classifies every path; `apply_plan` refuses to
write anything while a conflict is left (unless forced), then writes the plan
as one transaction (journal.py): a run lands whole or leaves the tree alone.

A file edited by hand since clustergen wrote it is merged with its new render
(merge.py, on the copy bases.py keeps of what clustergen last wrote); only a
merge that conflicts, a secret, or a file without a base copy is a conflict.
A file the user took over (`Resolutions.keep_mine`, then the manifest's
`released`) is left alone from then on.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import stat
import threading
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from generator import __version__, paths
from generator.errors import ClusterGenError, WriteConflict
from generator.held_signals import deferred_signals
from generator.secrets.files import is_secret_path
from generator.write.bases import base_path, bases_for, committed_copy, read_base, stored
from generator.write.fs import WriteError, os_reason, symlinked_directory
from generator.write.journal import SECRET_BACKUP_DIR, Staged, stage
from generator.write.lock import keep_locked
from generator.write.manifest import Manifest, dump_manifest, sha256_hex
from generator.write.manifest_notes import manifest_notes
from generator.write.merge import Hunk, merge3, merge_taking_theirs
from generator.write.ownership import output_scope, seal_key_id, seals_for

DEFAULT_MODE = 0o644
_RESERVED_TOPS = frozenset({".clustergen", ".git"})
# A secret's replaced version is kept under SECRET_BACKUP_DIR, where no secret scan or
# validation looks (a `x.sops.yaml.orig` beside it would be taken for a secret without
# a creation rule).


HAND_EDITED = "edited by hand since clustergen wrote it"
NOT_WRITTEN = "exists but was not written by clustergen"
SECRETS_NEVER_MERGE = (
    "secrets are never merged: they are rendered from cluster.yaml (put the value there)"
)


@dataclass(frozen=True)
class Conflict:
    """A file configure refuses to write until the user chooses.

    `hunks`: where a merge with the new render conflicts. `resolved`: that merge with
    each conflicting hunk taken from the new render and every other hand edit kept
    (what --take-theirs writes); None when no merge is possible (a secret, no base
    copy, a file clustergen did not write): --take-theirs then writes the render whole.
    """

    path: str
    reason: str
    hunks: tuple[Hunk, ...] = ()
    resolved: bytes | None = None


@dataclass(frozen=True)
class Resolutions:
    """The user's choice for files in the way (paths relative to the output root).

    keep_mine: the file becomes the user's; clustergen stops writing it (recorded in
    the manifest's `released`). take_theirs: the merge with each conflicting hunk taken
    from the new render (your other edits stay), or the whole render where nothing can
    merge; the current version kept as a `.orig` copy. (--force writes the whole render
    of every file in the way.)
    """

    keep_mine: frozenset[str] = frozenset()
    take_theirs: frozenset[str] = frozenset()

    @classmethod
    def of(cls, root: Path, keep_mine: Iterable[str], take_theirs: Iterable[str]) -> Resolutions:
        """Paths as the user typed them: as configure lists them (relative to root), or
        absolute."""
        mine = frozenset(_relative(root, p) for p in keep_mine)
        theirs = frozenset(_relative(root, p) for p in take_theirs)
        if both := sorted(mine & theirs):
            raise ClusterGenError(
                f"{both[0]}: given to both --keep-mine and --take-theirs; choose one"
            )
        return cls(mine, theirs)

    def check(self, files: Mapping[str, bytes]) -> None:
        """ClusterGenError for a path clustergen does not render, or a secret to keep."""
        for path in sorted(self.keep_mine | self.take_theirs):
            if path not in files:
                from generator.config.schema import closest  # only on this error's path

                close = closest(path, sorted(files))
                hint = (
                    f"did you mean {close}?"
                    if close
                    else "give a path as configure lists it, e.g. "
                    "kubernetes/apps/.../helmrelease.yaml"
                )
                raise ClusterGenError(
                    f"{path}: clustergen does not render that path, so there is nothing "
                    f"to keep or take ({hint})"
                )
        for path in sorted(self.keep_mine):
            if is_secret_path(path):
                raise ClusterGenError(
                    f"{path}: a secret cannot be kept as yours; secrets are rendered from "
                    "cluster.yaml (put the value there), or take the render with --take-theirs"
                )


# A file as the plan read it: inode, size, modification time (ns). A save in place changes
# size or time, an editor's save by rename the inode; staging's extra link changes none.
Seen = tuple[int, int, int]


def _seen(st: os.stat_result) -> Seen:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass
class WritePlan:
    files: Mapping[str, bytes]
    modes: dict[str, int]  # mode to write for each path in create/update/conflicts
    old: Manifest
    new: Manifest
    create: list[str] = field(default_factory=list)
    update: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # ours once, edited, no longer produced
    merged: dict[str, bytes] = field(default_factory=dict)  # hand-edited path → merge result
    edited: list[str] = field(default_factory=list)  # hand edits the new render leaves as they are
    # Files the user took over: path → what to say this once ("" says nothing).
    released: dict[str, str] = field(default_factory=dict)
    bases: dict[str, bytes] = field(default_factory=dict)  # base copies to write (root-relative)
    drop_bases: list[str] = field(default_factory=list)  # base copies no longer referenced
    take_theirs: frozenset[str] = frozenset()
    notes: list[str] = field(default_factory=list)  # said once, e.g. a --take-theirs with no effect
    # Rendered path → the override or merge patch that produced it (RenderedTree.origins):
    # the conflict advice then says to edit that, never to copy a render over it.
    origins: dict[str, str] = field(default_factory=dict)
    # Each path the write replaces or removes → its file as planned (`Seen`), None where
    # nothing was there: what the commit checks it still finds.
    seen: dict[str, Seen | None] = field(default_factory=dict)

    @property
    def changes(self) -> bool:
        """Whether applying the plan would touch any file of the tree."""
        return bool(self.create or self.update or self.remove or self.conflicts or self.merged)

    def unresolved(self, force: bool) -> list[Conflict]:
        """The conflicts neither `force` nor --take-theirs resolves."""
        return [] if force else [c for c in self.conflicts if c.path not in self.take_theirs]

    def refuse_conflicts(self, force: bool) -> None:
        """WriteConflict when hand edits are in the way and neither `force` nor
        --take-theirs resolves them; the message shows each conflicting hunk."""
        if left := self.unresolved(force):
            raise WriteConflict(_conflict_message(left, self.origins))

    def written(self, conflict: Conflict) -> bytes:
        """What a conflict resolved by --take-theirs or --force writes: the merge taking
        the new render's side where that path was given to --take-theirs and can merge,
        else the whole render."""
        if conflict.path in self.take_theirs and conflict.resolved is not None:
            return conflict.resolved
        return self.files[conflict.path]

    def final_files(self) -> dict[str, bytes]:
        """What each rendered path holds after the write, for the paths the write decides
        (a hand edit kept as is and a file the user took over stay as they are on disk)."""
        out = {p: d for p, d in self.files.items() if p not in self.released}
        out.update(self.merged)
        out.update({c.path: self.written(c) for c in self.conflicts})
        for path in self.edited:
            out.pop(path, None)
        return out


@dataclass
class WriteSummary:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    kept: list[str] = field(default_factory=list)
    backups: dict[str, str] = field(default_factory=dict)  # overwritten path → its .orig
    merged: list[str] = field(default_factory=list)
    released: dict[str, str] = field(default_factory=dict)  # path → the one line to say
    resolved: list[str] = field(default_factory=list)  # merged by --take-theirs
    # What changed under .clustergen/ beyond the files counted (manifest_notes.py)
    bookkeeping: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return len(self.created) + len(self.updated) + len(self.merged) + len(self.removed)

    def __str__(self) -> str:
        if not self.changed:
            lines = [f"0 changed ({self.unchanged} unchanged)"]
        else:
            merged = f"{len(self.merged)} merged, " if self.merged else ""
            lines = [
                f"{len(self.created)} created, {len(self.updated)} updated, {merged}"
                f"{len(self.removed)} removed, {self.unchanged} unchanged"
            ]
            for mark, group in (
                ("+", self.created),
                ("~", self.updated),
                ("M", self.merged),
                ("-", self.removed),
            ):
                for path in group:
                    saved = self.backups.get(path)
                    note = f" (your version saved as {saved})" if saved else ""
                    if path in self.resolved:
                        note = (
                            " (merged: conflicting lines from the new render, your other "
                            f"edits kept; your version saved as {saved})"
                        )
                    if mark == "M":
                        note = " (merged: your edits and the new render)"
                    lines.append(f"  {mark} {path}{note}")
        lines += [f"  kept (edited by you, no longer generated): {p}" for p in self.kept]
        lines += [f"  {note}" for _, note in sorted(self.released.items()) if note]
        lines += [f"  {note}" for note in [*self.notes, *self.bookkeeping]]
        return "\n".join(lines)


def plan_write(
    files: Mapping[str, bytes],
    root: Path,
    manifest: Manifest,
    modes: Mapping[str, int] | None = None,
    *,
    config_digest: str = "",
    fingerprints: Mapping[str, str] | None = None,
    seal_key: bytes | None = None,
    untrusted: Mapping[str, str] | None = None,
    resolutions: Resolutions = Resolutions(),
) -> WritePlan:
    """Classify every produced or previously written path; reads the disk, writes nothing
    (a hand-edited file is merged in memory: git merge-file on temporary copies).

    `fingerprints` (secret path → keyed plaintext fingerprint) are recorded in
    the new manifest for the paths in `files`, sealed with `seal_key` (see
    ownership.py). `untrusted` (path → why) names manifest entries dropped as
    untrusted, to explain the conflicts they cause. A file that exists keeps
    its mode (the user may have changed it); `modes` applies to new files.
    `resolutions`: the user's choices for files in the way (ClusterGenError for a
    path clustergen does not render, or a secret to keep).
    """
    resolutions.check(files)
    released = {
        p: sha256_hex(files[p])
        for p in (set(manifest.released) | resolutions.keep_mine) - resolutions.take_theirs
        if p in files and not is_secret_path(p)  # a secret is always rendered from config
    }
    ours_files = {p: b for p, b in files.items() if p not in released}
    inside: dict[Path, bool] = {}
    targets = {rel: _target(root, rel, inside) for rel in ours_files}
    recorded = {p: f for p, f in (fingerprints or {}).items() if p in ours_files}
    bases = bases_for(ours_files)
    new_manifest = Manifest(
        __version__,
        config_digest,
        {p: sha256_hex(b) for p, b in ours_files.items()},
        recorded,
        bases=bases,
        released=released,
    )
    if seal_key is not None:
        new_manifest = replace(
            new_manifest, seals=seals_for(new_manifest, seal_key), seal_key=seal_key_id(seal_key)
        )
    plan = WritePlan(files, {}, manifest, new_manifest, take_theirs=resolutions.take_theirs)
    plan.released = {p: _release_note(p, d, manifest, resolutions) for p, d in released.items()}
    have = stored(root)
    for rel, blob in sorted(bases.items()):
        if blob not in have:
            plan.bases[base_path(blob)] = files[rel]
            have.add(blob)
    plan.drop_bases = sorted(base_path(b) for b in have - set(bases.values()))
    for rel in sorted(ours_files):
        new, target, ours = files[rel], targets[rel], manifest.files.get(rel)
        # Looked at before it is read: a save in between is then a change the commit sees.
        seen = _now(target)
        on_disk = _read(target, rel)
        want = modes.get(rel, DEFAULT_MODE) if modes is not None else None
        if on_disk is None:
            plan.create.append(rel)
            plan.modes[rel] = DEFAULT_MODE if want is None else want
            plan.seen[rel] = None
            continue
        plan.modes[rel] = stat.S_IMODE(target.stat().st_mode) if seen else DEFAULT_MODE
        plan.seen[rel] = seen
        if on_disk == new:
            plan.unchanged.append(rel)  # ours, or adopted as ours
        elif ours is None:
            why = (untrusted or {}).get(rel, NOT_WRITTEN)
            plan.conflicts.append(Conflict(rel, why))
        elif sha256_hex(on_disk) == ours:
            plan.update.append(rel)
        else:
            _merge_into(plan, root, rel, on_disk)
    plan.notes = [
        f"--take-theirs {rel}: nothing of it conflicts, so your edits stay "
        "(to drop them, delete the file and run configure again)"
        for rel in sorted(resolutions.take_theirs & {*plan.edited, *plan.merged})
    ]
    scope = output_scope()
    for rel in sorted(set(manifest.files) - set(files)):
        if not scope.renders(rel):
            continue  # never ours to remove, whatever the manifest says (ownership.py)
        try:
            target = _target(root, rel, inside)
        except ClusterGenError:
            # Replaced by a link or a directory since we wrote it: the user's now.
            plan.kept.append(rel)
            continue
        seen = _now(target)
        data = _read(target, rel)
        if data is None:
            continue
        untouched = sha256_hex(data) == manifest.files[rel]
        (plan.remove if untouched else plan.kept).append(rel)
        if untouched:
            plan.seen[rel] = seen
    return plan


def apply_plan(plan: WritePlan, root: Path, force: bool = False) -> WriteSummary:
    """Carry out a plan as one transaction. Conflicts without `force` raise
    WriteConflict before any write; a disk error raises WriteError (path and OS
    reason) and leaves the tree as it was."""
    staged = stage_plan(plan, root, force)
    try:
        return staged.commit()
    finally:
        staged.settle()


class StagedPlan:
    """A plan whose new files wait beside their targets (journal.stage); nothing applied."""

    def __init__(
        self,
        summary: WriteSummary,
        staged: Staged | None,
        root: Path | None = None,
        seen: Mapping[str, Seen | None] | None = None,
    ) -> None:
        self._summary = summary
        self._staged = staged
        self._root = root
        self._seen = dict(seen or {})

    def commit(self) -> WriteSummary:
        """Apply the write (journal's commit point on); WriteError as `apply_plan`;
        WriteConflict, nothing written, when a file it replaces or removes changed since
        it was planned (a hand edit saved while the tree validated). Called in a `try`
        whose `finally` calls `settle` (journal.stage says why)."""
        if self._staged is not None:
            self._refuse_changed()
            self._staged.commit()
        return self._summary

    def _refuse_changed(self) -> None:
        if self._root is None:
            return
        changed = [rel for rel, seen in self._seen.items() if _now(self._root / rel) != seen]
        if changed:
            raise _changed_while_running(changed)

    def settle(self) -> None:
        """Unless committed, remove every stage: the tree is as it was."""
        if self._staged is not None:
            self._staged.settle()


def stage_plan(
    plan: WritePlan,
    root: Path,
    force: bool = False,
    cancelled: Callable[[], bool] | None = None,
) -> StagedPlan:
    """`apply_plan` up to the commit point: conflicts refused, every file staged
    (`cancelled`: as journal.stage's)."""
    plan.refuse_conflicts(force)
    summary = WriteSummary(
        created=list(plan.create),
        updated=sorted([*plan.update, *(c.path for c in plan.conflicts)]),
        removed=list(plan.remove),
        unchanged=len(plan.unchanged) + len(plan.edited),
        kept=list(plan.kept),
        merged=sorted(plan.merged),
        released=dict(plan.released),
        resolved=sorted(c.path for c in plan.conflicts if plan.written(c) != plan.files[c.path]),
        bookkeeping=manifest_notes(plan.old, plan.new, changed=bool(plan.changes)),
        notes=list(plan.notes),
    )
    if not plan.changes and (plan.bases or plan.drop_bases):
        summary.bookkeeping.append(
            f"base copies (.clustergen/base/): {len(plan.bases)} written, "
            f"{len(plan.drop_bases)} removed"
        )
    backups: dict[str, tuple[str, int]] = {}
    for conflict in plan.conflicts:
        try:
            backup, mode = _backup_for(root, conflict.path)
        except FileNotFoundError:  # removed since it was planned (staging runs beside it)
            raise _changed_while_running([conflict.path]) from None
        backups[conflict.path] = (backup, mode)
        summary.backups[conflict.path] = backup
    writes = [*plan.create, *plan.update, *(c.path for c in plan.conflicts)]
    contents = {rel: plan.files[rel] for rel in writes} | plan.merged | plan.bases
    contents |= {c.path: plan.written(c) for c in plan.conflicts}
    removals = [*plan.remove, *plan.drop_bases]
    if not contents and not removals and plan.new == plan.old:
        return StagedPlan(summary, None)
    modes = {**plan.modes, **dict.fromkeys(plan.bases, DEFAULT_MODE)}
    manifest = dump_manifest(plan.new) if plan.new != plan.old else None
    touched = [*writes, *plan.merged, *plan.remove]
    seen = {rel: plan.seen[rel] for rel in touched if rel in plan.seen}
    # A backup name was free when chosen: a file saved there since must not be overwritten.
    seen.update({backup: None for backup, _ in backups.values()})
    staged = stage(root, contents, modes, removals, manifest, backups, cancelled)
    try:
        return StagedPlan(summary, staged, root, seen)
    except BaseException:  # an interrupt at its creation
        staged.settle()
        raise


class WriteWhileValidating:
    """Stage a plan in a thread while the tree validates; then commit it, or roll it back.

    `start` once validation has read the disk (the stages are files in the tree); a plan
    never started is staged by `commit`. Staging is most of a write's cost (creating
    each file, fsyncs); validation mostly waits for kubectl, so both fit on two cores.

    The main thread never leaves `commit` or `abandon` while the thread still stages: it
    waits with SIGINT/SIGTERM held back (held_signals.deferred_signals), and one that comes
    meanwhile cuts staging short (between two files) before it is raised. (`Thread.join`
    cannot be used: on CPython 3.11 a join that an interrupt cuts short marks the thread
    stopped while it runs on, so a second join returns at once.) A copy of the directory's
    lock (lock.keep_locked) is held until the stages are committed or removed, however
    the main thread unwinds.
    """

    def __init__(self, plan: WritePlan, root: Path, force: bool = False) -> None:
        self._args = (plan, root, force)
        self._thread: threading.Thread | None = None
        self._staged: StagedPlan | None = None
        self._error: BaseException | None = None
        self._cancelled = False
        self._finished = False
        # Held from `start` until the thread ends: a wait on it wakes at the thread's end.
        self._running = threading.Lock()
        self._unlock: Callable[[], None] | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        # No interrupt between starting the thread and knowing it started.
        with deferred_signals():
            self._unlock = keep_locked(self._args[1])
            thread = threading.Thread(target=self._stage, name="clustergen-stage")
            self._running.acquire()
            try:
                thread.start()
            except BaseException:  # not started (no interrupt comes here)
                self._running.release()
                self._release_lock()
                raise
            self._thread = thread
            # A second interrupt can skip the caller's `abandon` (while the first unwinds
            # validation); the interpreter then waits for the thread at exit, and this
            # removes what it staged.
            atexit.register(self.abandon)

    def _stage(self) -> None:
        plan, root, force = self._args
        try:
            self._staged = stage_plan(plan, root, force, cancelled=self._is_cancelled)
        except BaseException as err:  # handed to the caller's thread by commit
            self._error = err
        finally:
            self._finished = True
            self._running.release()

    def _done(self) -> None:
        """The stages are committed or removed: the lock copy and the exit hook go."""
        atexit.unregister(self.abandon)
        self._release_lock()

    def _release_lock(self) -> None:
        unlock, self._unlock = self._unlock, None
        if unlock is not None:
            unlock()

    def _is_cancelled(self) -> bool:
        return self._cancelled

    def _cancel(self) -> None:
        self._cancelled = True

    def _wait(self) -> None:
        """Until the thread has ended (call with signals held back)."""
        while not self._finished:
            # Only a wake-up: `_finished` says whether the thread ended.
            if self._running.acquire(timeout=0.05):
                self._running.release()

    def commit(self) -> WriteSummary:
        """Write the plan (`apply_plan`'s errors)."""
        if self._thread is None:
            return apply_plan(*self._args)
        try:
            # An interrupt while the stages are still being written stops staging, then is
            # raised here.
            with deferred_signals(self._cancel):
                self._wait()
        except BaseException:
            self.abandon()
            raise
        try:
            if self._error is not None:
                raise self._error
            assert self._staged is not None
            try:
                return self._staged.commit()
            finally:
                self._staged.settle()
        finally:
            self._done()

    def abandon(self) -> None:
        """Validation failed or was interrupted: stop staging, remove whatever was staged."""
        if self._thread is None:
            return
        self._cancelled = True
        try:
            with deferred_signals():
                self._wait()
                if self._staged is not None:
                    # The caller's error is the one to report; a stage the disk keeps now
                    # goes with the next run's recovery (the journal says `prepared`).
                    with contextlib.suppress(WriteError):
                        self._staged.settle()
        finally:  # a signal held back above is raised on leaving: the lock copy goes anyway
            self._done()


def _changed_while_running(paths: Iterable[str]) -> WriteConflict:
    changed = sorted(paths)
    return WriteConflict(
        "\n".join(
            [f"{len(changed)} file(s) changed while configure ran; nothing was written:"]
            + [f"  {rel}" for rel in changed]
            + ["Run configure again: it then plans with them as they are now."]
        )
    )


def _merge_into(plan: WritePlan, root: Path, rel: str, on_disk: bytes) -> None:
    """Classify a hand-edited file: merged, left as edited, or a conflict (with hunks)."""
    outcome = hand_edit_outcome(root, plan.old, rel, on_disk, plan.files[rel])
    if isinstance(outcome, Conflict):
        plan.conflicts.append(outcome)
    elif outcome is None:
        plan.edited.append(rel)
    else:
        plan.merged[rel] = outcome


def hand_edit_outcome(
    root: Path, manifest: Manifest, rel: str, on_disk: bytes, new: bytes
) -> Conflict | bytes | None:
    """What configure does with a file edited since it wrote `manifest.files[rel]`:
    None (the edit stays as it is), the merged bytes to write, or the Conflict."""
    if is_secret_path(rel):
        return _edited_secret(rel)
    blob, digest = manifest.bases.get(rel), manifest.files.get(rel, "")
    base = read_base(root, blob) if blob is not None else None
    if base is None or sha256_hex(base) != digest:
        base = committed_copy(root, rel, digest)  # written before base copies were kept
    if base is None:
        return Conflict(rel, f"{HAND_EDITED} (no copy of what it wrote to merge with)")
    if base == new:
        return None  # the render did not change: the edit stays as it is
    if _crlf_only(on_disk) and b"\r\n" not in base:
        # An editor that saves CRLF changes every line: merge the edit itself, keep its endings.
        outcome = hand_edit_outcome(root, manifest, rel, on_disk.replace(b"\r\n", b"\n"), new)
        return outcome.replace(b"\n", b"\r\n") if isinstance(outcome, bytes) else outcome
    result = merge3(base, on_disk, new)
    if result.binary:
        return Conflict(
            rel, f"{HAND_EDITED}; it now holds binary data (a NUL byte), so it cannot be merged"
        )
    if result.merged is None:
        resolved = merge_taking_theirs(base, on_disk, new)
        return Conflict(rel, f"{HAND_EDITED}; the merge conflicts", result.hunks, resolved)
    return None if result.merged == on_disk else result.merged


def _crlf_only(data: bytes) -> bool:
    """Every line of `data` ends in CRLF (a lone LF would change under a round trip)."""
    return b"\r\n" in data and data.count(b"\n") == data.count(b"\r\n")


def secret_outcome(manifest: Manifest, rel: str, on_disk: bytes) -> Conflict | None:
    """What configure does with a secret file whose plaintext differs from its render:
    None when it writes the new ciphertext (the file is what it wrote), else the
    Conflict (a secret is never merged). As plan_write classifies it, for the commands
    that compare secrets by plaintext instead of planning them (diff, upgrade --check)."""
    ours = manifest.files.get(rel)
    if ours is None:
        return Conflict(rel, NOT_WRITTEN)
    return None if sha256_hex(on_disk) == ours else _edited_secret(rel)


def _edited_secret(rel: str) -> Conflict:
    return Conflict(rel, f"{HAND_EDITED}; {SECRETS_NEVER_MERGE}")


def preview_plan(
    files: Mapping[str, bytes],
    root: Path,
    manifest: Manifest,
    unknown: Collection[str] = frozenset(),
) -> WritePlan:
    """configure's plan (`plan_write`) for what can be planned without encrypting: every
    rendered file but the secrets and the `unknown` ones (e.g. derived from secret values
    in a render without keys), against the manifest without their entries (a file no
    longer rendered is still planned: removed, or kept when edited). For the commands
    that say what configure would do (diff, upgrade --check); reads the disk, writes
    nothing (ClusterGenError as plan_write's)."""
    skip = {p for p in files if is_secret_path(p) or p in unknown}
    known = {p: b for p, b in files.items() if p not in skip}
    compared = {p: d for p, d in manifest.files.items() if p not in skip}
    return plan_write(known, root, replace(manifest, files=compared, fingerprints={}))


def as_configure_leaves(plan: WritePlan, root: Path) -> dict[str, bytes]:
    """The planned files as configure leaves them (for a comparison with the working
    tree): the render, each hand edit merged or as on disk where the render does not
    change it, a file the user took over as on disk (absent when gone). A conflict is
    left out: configure writes nothing until the user chooses (see `plan.conflicts`)."""
    out = {p: b for p, b in plan.files.items() if p not in plan.released}
    out.update(plan.merged)
    for rel in [*plan.edited, *plan.released]:
        try:
            out[rel] = (root / rel).read_bytes()
        except OSError:
            out.pop(rel, None)
    for conflict in plan.conflicts:
        out.pop(conflict.path, None)
    return out


def _release_note(path: str, digest: str, old: Manifest, resolutions: Resolutions) -> str:
    """Said once: when the user takes a file over, and when its render changes after."""
    if path in resolutions.keep_mine and path not in old.released:
        return (
            f"released (yours now; clustergen no longer writes it): {path} "
            f"(to hand it back: configure --take-theirs {path})"
        )
    if old.released.get(path, digest) != digest:
        return (
            f"yours, not written: {path}: the new render differs from it "
            f"(`uv run clustergen diff` shows how; configure --take-theirs {path} takes it)"
        )
    return ""


def _relative(root: Path, typed: str) -> str:
    """A path as typed (relative to root, as configure lists it, or absolute) → relative
    to root; ClusterGenError for one outside root."""
    path = Path(typed)
    absolute = path if path.is_absolute() else root / path
    try:
        return absolute.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        raise ClusterGenError(
            f"{typed}: not inside {root}, where configure writes; give a path inside it"
        ) from None


def _now(target: Path) -> Seen | None:
    """`Seen` of target now, None when nothing (or no plain file) is there."""
    try:
        st = target.lstat()
    except OSError:
        return None
    return _seen(st) if stat.S_ISREG(st.st_mode) else None


def _read(target: Path, rel: str) -> bytes | None:
    """target's bytes, None when it does not exist; WriteError (path, OS reason) otherwise."""
    try:
        return target.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as err:
        raise WriteError(f"cannot read {rel}: {os_reason(err)}") from None


def _backup_for(root: Path, rel: str) -> tuple[str, int]:
    """Where a forced overwrite keeps the current version of rel, and with which mode.

    A secret's goes under .clustergen/orig/ (private, never scanned); anything
    else beside it as <file>.orig.
    """
    target = root / rel
    mode = stat.S_IMODE(target.lstat().st_mode)
    if is_secret_path(rel):
        base = PurePosixPath(SECRET_BACKUP_DIR) / rel
        mode = 0o600
    else:
        base = PurePosixPath(rel)
    candidate = base.with_name(base.name + ".orig")
    n = 1
    while (root / candidate).exists() or (root / candidate).is_symlink():
        candidate = base.with_name(f"{base.name}.orig.{n}")
        n += 1
    return candidate.as_posix(), mode


def _target(root: Path, rel: str, inside: dict[Path, bool] | None = None) -> Path:
    """`root/rel`, refusing anything that could land outside root or on a link.

    `inside` memoises the (syscall-heavy) symlink check of each parent directory
    across the calls of one plan; most files share their directory with others.
    """
    parts = rel.split("/")
    if (
        not rel
        or rel.startswith("/")
        or "\\" in rel
        or any(part in ("", ".", "..") for part in parts)
        or parts[0] in _RESERVED_TOPS
    ):
        raise ClusterGenError(f"refusing to write {rel!r}: not a plain path inside the output")
    target = root / rel
    # Any symlink on the way below root (even one that points back inside) would let a
    # swap redirect the write.
    if not _no_link_below(root, target.parent, {} if inside is None else inside):
        raise _symlinked_dir(root, parts[:-1])
    try:
        mode = target.lstat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return target
    if not stat.S_ISREG(mode):  # a symlink, a directory or anything else that is no plain file
        raise ClusterGenError(
            f"{rel} is a symlink or a directory where clustergen writes a file; "
            "move it away and run again"
        )
    return target


def _no_link_below(root: Path, directory: Path, inside: dict[Path, bool]) -> bool:
    """No directory from `directory` up to (not including) `root` is a symlink: one lstat
    per directory, each memoised in `inside` across the files of one plan."""
    if directory == root:
        return True
    ok = inside.get(directory)
    if ok is None:
        ok = not directory.is_symlink() and _no_link_below(root, directory.parent, inside)
        inside[directory] = ok
    return ok


def _symlinked_dir(root: Path, dirs: list[str]) -> WriteError:
    """The error naming the first directory on the way that is a symlink (as fs.py words it)."""
    for depth in range(1, len(dirs) + 1):
        rel_dir = "/".join(dirs[:depth])
        if (root / rel_dir).is_symlink():
            return symlinked_directory(root, rel_dir, os.readlink(root / rel_dir))
    return WriteError(f"refusing to write into {'/'.join(dirs)}: it resolves outside {root}")


def _conflict_message(conflicts: list[Conflict], origins: Mapping[str, str]) -> str:
    lines = [f"{len(conflicts)} file(s) in the way; nothing was written:"]
    for conflict in conflicts:
        lines.append(f"  {conflict.path}: {conflict.reason}")
        for hunk in conflict.hunks:
            lines += [f"    {line}" for line in hunk.describe(conflict.path)]
    lines.append("For each file, choose one and run configure again:")
    lines.append(
        "  - take the new render where it conflicts: --take-theirs PATH; your other edits "
        "in the file stay (a file that cannot merge, as a secret, is replaced whole); "
        f"your version is kept as <file>.orig (a secret's under {SECRET_BACKUP_DIR}/)"
    )
    lines.append(
        "  - or replace every file in the way whole, dropping all your edits in them: --force"
    )
    if any(not is_secret_path(c.path) for c in conflicts):
        lines.append(
            "  - keep yours: --keep-mine PATH; the file becomes yours and clustergen "
            "stops writing it (recorded in .clustergen/manifest.json)"
        )
        plain = [c.path for c in conflicts if not is_secret_path(c.path)]
        if copies := [p for p in plain if p not in origins]:
            lines.append(
                "  - make your change an override (it then renders in place of the built-in "
                "template): copy your version of"
            )
            lines += [f"      {p} to {override_for(p)}" for p in copies]
        if edits := [p for p in plain if p in origins]:
            # Copying the rendered file over an override would replace its template logic.
            lines.append("  - or put your change into the override or patch that renders it:")
            lines += [f"      {p}: edit {_origin_file(origins[p])}" for p in edits]
    lines.append("  - or move your change into cluster.yaml, or remove the file")
    return "\n".join(lines)


def _origin_file(origin: str) -> str:
    """`overrides/x.yaml.j2`, or `overrides/patches/p.yaml (the patch at line 3)`."""
    file, _, line = origin.partition(":")
    return f"{file} (the patch at line {line})" if line else file


def override_for(rel: str) -> str:
    """Where an override of the template that renders `rel` goes: overrides/ mirrors
    templates/config (`X.j2` renders to X; a file without `.j2` is copied)."""
    template = f"{rel}.j2" if (paths.TEMPLATE_TREE / f"{rel}.j2").is_file() else rel
    return f"overrides/{template}"
