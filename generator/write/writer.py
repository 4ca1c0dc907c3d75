"""Write a rendered tree safely: plan first, then write only what changed.

Ownership comes from the manifest (see manifest.py; ownership.py says which
entries are trusted). The plan classifies every path; `apply_plan` refuses to
write anything while a conflict is left (unless forced), then writes the plan
as one transaction (journal.py): a run lands whole or leaves the tree alone.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from generator import __version__
from generator.errors import ClusterGenError, WriteConflict
from generator.secrets.files import is_secret_path
from generator.write.fs import WriteError, os_reason, symlinked_directory
from generator.write.journal import SECRET_BACKUP_DIR, transact
from generator.write.manifest import Manifest, dump_manifest, sha256_hex
from generator.write.ownership import output_scope, seal_key_id, seals_for

DEFAULT_MODE = 0o644
_RESERVED_TOPS = frozenset({".clustergen", ".git"})
# A secret's replaced version is kept under SECRET_BACKUP_DIR, where no secret scan or
# validation looks (a `x.sops.yaml.orig` beside it would be taken for a secret without
# a creation rule).


@dataclass(frozen=True)
class Conflict:
    path: str
    reason: str


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

    @property
    def changes(self) -> bool:
        """Whether applying the plan would touch any file."""
        return bool(self.create or self.update or self.remove or self.conflicts)

    def refuse_conflicts(self, force: bool) -> None:
        """WriteConflict when hand edits are in the way and `force` is off."""
        if self.conflicts and not force:
            raise WriteConflict(_conflict_message(self.conflicts))


@dataclass
class WriteSummary:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    kept: list[str] = field(default_factory=list)
    backups: dict[str, str] = field(default_factory=dict)  # overwritten path → its .orig

    @property
    def changed(self) -> int:
        return len(self.created) + len(self.updated) + len(self.removed)

    def __str__(self) -> str:
        if not self.changed:
            lines = [f"0 changed ({self.unchanged} unchanged)"]
        else:
            lines = [
                f"{len(self.created)} created, {len(self.updated)} updated, "
                f"{len(self.removed)} removed, {self.unchanged} unchanged"
            ]
            for mark, group in (("+", self.created), ("~", self.updated), ("-", self.removed)):
                for path in group:
                    saved = self.backups.get(path)
                    note = f" (your version saved as {saved})" if saved else ""
                    lines.append(f"  {mark} {path}{note}")
        lines += [f"  kept (edited by you, no longer generated): {p}" for p in self.kept]
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
) -> WritePlan:
    """Classify every produced or previously written path; reads the disk, writes nothing.

    `fingerprints` (secret path → keyed plaintext fingerprint) are recorded in
    the new manifest for the paths in `files`, sealed with `seal_key` (see
    ownership.py). `untrusted` (path → why) names manifest entries dropped as
    untrusted, to explain the conflicts they cause. A file that exists keeps
    its mode (the user may have changed it); `modes` applies to new files.
    """
    real_root = root.resolve()
    inside: dict[Path, bool] = {}
    targets = {rel: _target(root, real_root, rel, inside) for rel in files}
    recorded = {p: f for p, f in (fingerprints or {}).items() if p in files}
    new_manifest = Manifest(
        __version__, config_digest, {p: sha256_hex(b) for p, b in files.items()}, recorded
    )
    if seal_key is not None:
        new_manifest = replace(
            new_manifest, seals=seals_for(new_manifest, seal_key), seal_key=seal_key_id(seal_key)
        )
    plan = WritePlan(files, {}, manifest, new_manifest)
    for rel in sorted(files):
        new, target, ours = files[rel], targets[rel], manifest.files.get(rel)
        on_disk = _read(target, rel)
        want = modes.get(rel, DEFAULT_MODE) if modes is not None else None
        if on_disk is None:
            plan.create.append(rel)
            plan.modes[rel] = DEFAULT_MODE if want is None else want
            continue
        plan.modes[rel] = stat.S_IMODE(target.stat().st_mode)
        if on_disk == new:
            plan.unchanged.append(rel)  # ours, or adopted as ours
        elif ours is None:
            why = (untrusted or {}).get(rel, "exists but was not written by clustergen")
            plan.conflicts.append(Conflict(rel, why))
        elif sha256_hex(on_disk) == ours:
            plan.update.append(rel)
        else:
            plan.conflicts.append(Conflict(rel, "edited by hand since clustergen wrote it"))
    scope = output_scope()
    for rel in sorted(set(manifest.files) - set(files)):
        if not scope.renders(rel):
            continue  # never ours to remove, whatever the manifest says (ownership.py)
        try:
            target = _target(root, real_root, rel, inside)
        except ClusterGenError:
            # Replaced by a link or a directory since we wrote it: the user's now.
            plan.kept.append(rel)
            continue
        data = _read(target, rel)
        if data is None:
            continue
        untouched = sha256_hex(data) == manifest.files[rel]
        (plan.remove if untouched else plan.kept).append(rel)
    return plan


def apply_plan(plan: WritePlan, root: Path, force: bool = False) -> WriteSummary:
    """Carry out a plan as one transaction. Conflicts without `force` raise
    WriteConflict before any write; a disk error raises WriteError (path and OS
    reason) and leaves the tree as it was."""
    plan.refuse_conflicts(force)
    summary = WriteSummary(
        created=list(plan.create),
        updated=sorted([*plan.update, *(c.path for c in plan.conflicts)]),
        removed=list(plan.remove),
        unchanged=len(plan.unchanged),
        kept=list(plan.kept),
    )
    backups: dict[str, tuple[str, int]] = {}
    for conflict in plan.conflicts:
        backup, mode = _backup_for(root, conflict.path)
        backups[conflict.path] = (backup, mode)
        summary.backups[conflict.path] = backup
    writes = [*plan.create, *plan.update, *(c.path for c in plan.conflicts)]
    if not writes and not plan.remove and plan.new == plan.old:
        return summary
    transact(
        root,
        {rel: plan.files[rel] for rel in writes},
        plan.modes,
        list(plan.remove),
        dump_manifest(plan.new) if plan.new != plan.old else None,
        backups,
    )
    return summary


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


def _target(root: Path, real_root: Path, rel: str, inside: dict[Path, bool] | None = None) -> Path:
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
    parent = target.parent
    ok = inside.get(parent) if inside is not None else None
    if ok is None:
        # A real directory resolves to itself: any symlink on the way (even one that
        # points back inside) would let a swap redirect the write.
        ok = parent.resolve() == real_root.joinpath(*parts[:-1])
        if inside is not None:
            inside[parent] = ok
    if not ok:
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


def _symlinked_dir(root: Path, dirs: list[str]) -> WriteError:
    """The error naming the first directory on the way that is a symlink (as fs.py words it)."""
    for depth in range(1, len(dirs) + 1):
        rel_dir = "/".join(dirs[:depth])
        if (root / rel_dir).is_symlink():
            return symlinked_directory(root, rel_dir, os.readlink(root / rel_dir))
    return WriteError(f"refusing to write into {'/'.join(dirs)}: it resolves outside {root}")


def _conflict_message(conflicts: list[Conflict]) -> str:
    lines = [f"{len(conflicts)} file(s) in the way; nothing was written:"]
    lines += [f"  {c.path}: {c.reason}" for c in conflicts]
    lines.append(
        "Move your changes into cluster.yaml (or remove the file), or rerun with --force "
        "to overwrite: each file's current content is kept as <file>.orig "
        f"(a secret's under {SECRET_BACKUP_DIR}/)."
    )
    return "\n".join(lines)
