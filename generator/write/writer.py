"""Write a rendered tree safely: plan first, then write only what changed.

Ownership comes from the manifest (see manifest.py). The plan classifies
every path; `apply_plan` refuses to write anything while a conflict is left
(unless forced), so a run either succeeds as a whole or leaves the tree alone.
"""

from __future__ import annotations

import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from generator import __version__
from generator.errors import ClusterGenError, WriteConflict
from generator.write.manifest import Manifest, atomic_write, save_manifest, sha256_hex

DEFAULT_MODE = 0o644
_RESERVED_TOPS = frozenset({".clustergen", ".git"})


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
) -> WritePlan:
    """Classify every produced or previously written path; reads the disk, writes nothing.

    `fingerprints` (secret path → keyed plaintext fingerprint) are recorded in
    the new manifest for the paths in `files`.
    """
    real_root = root.resolve()
    inside: dict[Path, bool] = {}
    targets = {rel: _target(root, real_root, rel, inside) for rel in files}
    recorded = {p: f for p, f in (fingerprints or {}).items() if p in files}
    plan = WritePlan(
        files,
        {},
        manifest,
        Manifest(
            __version__, config_digest, {p: sha256_hex(b) for p, b in files.items()}, recorded
        ),
    )
    for rel in sorted(files):
        new, target, ours = files[rel], targets[rel], manifest.files.get(rel)
        on_disk = target.read_bytes() if target.exists() else None
        want = modes.get(rel, DEFAULT_MODE) if modes is not None else None
        if on_disk is None:
            plan.create.append(rel)
            plan.modes[rel] = DEFAULT_MODE if want is None else want
            continue
        current = stat.S_IMODE(target.stat().st_mode)
        plan.modes[rel] = current if want is None else want
        if on_disk == new:
            # Same bytes: ours (or adopted as ours) and only the executable bit may differ.
            same_mode = want is None or bool(current & 0o111) == bool(want & 0o111)
            (plan.unchanged if same_mode else plan.update).append(rel)
        elif ours is None:
            plan.conflicts.append(Conflict(rel, "exists but was not written by clustergen"))
        elif sha256_hex(on_disk) == ours:
            plan.update.append(rel)
        else:
            plan.conflicts.append(Conflict(rel, "edited by hand since clustergen wrote it"))
    for rel in sorted(set(manifest.files) - set(files)):
        try:
            target = _target(root, real_root, rel, inside)
        except ClusterGenError:
            # Replaced by a link or a directory since we wrote it: the user's now.
            plan.kept.append(rel)
            continue
        if not target.exists():
            continue
        untouched = sha256_hex(target.read_bytes()) == manifest.files[rel]
        (plan.remove if untouched else plan.kept).append(rel)
    return plan


def apply_plan(plan: WritePlan, root: Path, force: bool = False) -> WriteSummary:
    """Carry out a plan. Conflicts without `force` raise WriteConflict before any write."""
    plan.refuse_conflicts(force)
    summary = WriteSummary(
        created=list(plan.create),
        updated=sorted([*plan.update, *(c.path for c in plan.conflicts)]),
        removed=list(plan.remove),
        unchanged=len(plan.unchanged),
        kept=list(plan.kept),
    )
    for conflict in plan.conflicts:
        target = root / conflict.path
        backup = _free_backup_name(target)
        atomic_write(backup, target.read_bytes(), stat.S_IMODE(target.stat().st_mode))
        summary.backups[conflict.path] = (
            PurePosixPath(conflict.path).with_name(backup.name).as_posix()
        )
    for rel in [*plan.create, *plan.update, *(c.path for c in plan.conflicts)]:
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, plan.files[rel], plan.modes[rel])
    for rel in plan.remove:
        (root / rel).unlink(missing_ok=True)
    _prune_empty_dirs(root, plan.remove)
    if plan.new != plan.old:
        save_manifest(root, plan.new)
    return summary


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
        ok = parent.resolve().is_relative_to(real_root)
        if inside is not None:
            inside[parent] = ok
    if not ok:
        raise ClusterGenError(
            f"refusing to write {rel}: {target.parent} leads outside {root} through a symlink"
        )
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


def _free_backup_name(target: Path) -> Path:
    candidate = target.with_name(target.name + ".orig")
    n = 1
    while candidate.exists() or candidate.is_symlink():
        candidate = target.with_name(f"{target.name}.orig.{n}")
        n += 1
    return candidate


def _prune_empty_dirs(root: Path, removed: list[str]) -> None:
    """Remove directories that our removals emptied; a directory with anything else stays."""
    parents = {PurePosixPath(rel).parent for rel in removed}
    candidates = {p for parent in parents for p in (parent, *parent.parents) if p.parts}
    for rel_dir in sorted(candidates, key=lambda p: len(p.parts), reverse=True):
        directory = root / rel_dir
        if directory.is_dir() and not directory.is_symlink() and not any(directory.iterdir()):
            directory.rmdir()


def _conflict_message(conflicts: list[Conflict]) -> str:
    lines = [f"{len(conflicts)} file(s) in the way; nothing was written:"]
    lines += [f"  {c.path}: {c.reason}" for c in conflicts]
    lines.append(
        "Move your changes into cluster.yaml (or remove the file), or rerun with --force "
        "to overwrite: each file's current content is kept as <file>.orig."
    )
    return "\n".join(lines)
