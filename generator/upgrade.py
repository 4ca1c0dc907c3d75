"""`clustergen upgrade --check`: what configure would do with the templates of this checkout.

Run after taking a newer clustergen (`git pull` of the template), before `configure`.
It renders in memory and plans the write exactly as configure does (writer.preview_plan,
the plan `clustergen diff` takes too, with its three-way merges), then reports, writing nothing:

- which rendered files the new render changes, against what configure last wrote
  (the manifest): new, changed, no longer rendered; secrets by their plaintext;
- which hand edits will merge, which conflict (with their hunks), which stay as edited;
- which files you took over (--keep-mine) the new render changes;
- which of your overrides shadow a built-in template that changed since you overrode it.

Each part is one `Section`; the report is the list of them (`_sections`), so a further
check is one more entry there. Before rendering it refuses what configure refuses
(pipeline.refuse_before_render: a lost key, a stray secret, a tracked plaintext secret);
with no conflict, it validates the tree configure would write, as configure does. Exit
status 1 when any section holds a conflict or a validation error (configure would refuse),
else 0. Without age.key, secrets and the files that derive from secret values cannot be
compared: they are counted, not checked, and the tree is not validated (the result says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from generator.diff.derived import secret_derived_files
from generator.errors import ValidationFailed
from generator.pipeline import (
    RenderResult,
    refuse_before_render,
    render_in_memory,
    validate_planned,
)
from generator.render.overrides.stale import stale_overrides
from generator.report import Report
from generator.secrets.encrypt import config_digest_for
from generator.secrets.files import is_secret_path
from generator.secrets.fingerprint import Written
from generator.secrets.keys import discover_age_key
from generator.write.manifest import Manifest, load_manifest
from generator.write.ownership import trusted
from generator.write.writer import Conflict, WritePlan, preview_plan, secret_outcome


@dataclass(frozen=True)
class Section:
    """One part of the report: a title, its lines, and how many conflicts it found."""

    title: str
    lines: tuple[str, ...] = ()
    conflicts: int = 0

    def render(self) -> list[str]:
        """`title:` and its lines, or `title: none`."""
        return [f"{self.title}:", *self.lines] if self.lines else [f"{self.title}: none"]


@dataclass(frozen=True)
class Secrets:
    """Secret files as configure would find them: changed, and hand-edited ones."""

    created: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    edited: tuple[Conflict, ...] = ()  # configure refuses them: secrets never merge


def run_upgrade_check(config_path: Path) -> Report:
    """The report of what configure would change, merge and refuse; writes nothing.

    Status 0 when configure would go through, 1 when a hand edit conflicts.
    Errors as configure's (ClusterGenError subclasses: config, secrets, manifest).
    """
    workdir = config_path.resolve().parent
    held = discover_age_key(workdir)
    refuse_before_render(config_path, held, keyless=True)  # configure's own refusals
    result = render_in_memory(config_path, keyless=held is None, held=held)
    key = result.sops.fingerprint_key if result.sops is not None else None
    manifest, _ = trusted(load_manifest(workdir), key)
    unknowable = secret_derived_files(result.tree.files, result.probe)
    # configure's own plan, as `clustergen diff` takes it. Secrets are compared by plaintext
    # below; what a keyless render cannot know, not at all.
    plan = preview_plan(result.tree.files, workdir, manifest, unknown=unknowable)
    secrets = _secrets(result, manifest, workdir) if result.sops else Secrets()
    sections = _sections(plan, secrets, manifest, workdir)
    conflicts = sum(s.conflicts for s in sections)
    lines = ["upgrade check: the new render against what configure last wrote (nothing written)"]
    lines += _notes(result, manifest, unknowable)
    for section in sections:
        lines += section.render()
    if conflicts:
        lines.append(
            f"result: {conflicts} conflict(s); configure will refuse until you choose for each "
            "file: --keep-mine PATH, --take-theirs PATH, or an override (configure lists them)"
        )
        return Report.of(lines, status=1)
    if result.sops is None:
        lines.append(
            "result: no conflicts; configure needs age.key, and the tree went unvalidated "
            "without it (`uv run clustergen validate` with the key)"
        )
        return Report.of(lines, status=0)
    # configure validates the tree it would write after the conflicts: so does the check.
    validation = _validation(plan, result)
    lines += validation.render()
    if validation.conflicts:
        lines.append(
            f"result: {validation.conflicts} validation problem(s); configure will refuse "
            "until they are fixed"
        )
        return Report.of(lines, status=1)
    lines.append("result: no conflicts; configure will go through")
    return Report.of(lines, status=0)


def _validation(plan: WritePlan, result: RenderResult) -> Section:
    """configure's validation of the tree as it would write it (pipeline.validate_planned);
    secrets as they are on disk, which the check does not re-encrypt."""
    title = "validation of the tree configure would write"
    report: list[str] = []
    try:
        validate_planned(plan, result, report)
    except ValidationFailed as err:
        problems = tuple(f"  {problem}" for problem in err.problems)
        return Section(title, problems, conflicts=len(problems))
    return Section(title, tuple(f"  {line}" for line in report))


def _sections(
    plan: WritePlan, secrets: Secrets, manifest: Manifest, workdir: Path
) -> list[Section]:
    """The report's parts, in order."""
    return [
        _rendered_changes(plan, secrets),
        _hand_edits(plan, secrets),
        _released(plan, manifest),
        _stale_overrides(workdir, manifest),
    ]


def _rendered_changes(plan: WritePlan, secrets: Secrets) -> Section:
    hand_edited = {c.path for c in plan.conflicts} | set(plan.merged)
    lines = [f"  + {p}" for p in plan.create]
    lines += [f"  + {p} (secret)" for p in secrets.created]
    new, old = plan.new.files, plan.old.files
    changed = [*plan.update, *(p for p in hand_edited if new[p] != old.get(p))]
    lines += [f"  ~ {p}" for p in sorted(changed)]
    lines += [f"  ~ {p} (secret: re-encrypted from cluster.yaml)" for p in secrets.changed]
    lines += [f"  - {p} (no longer rendered)" for p in plan.remove]
    lines += [f"  - {p} (no longer rendered; edited by you, so kept)" for p in plan.kept]
    return Section("rendered files the new render changes", tuple(lines))


def _hand_edits(plan: WritePlan, secrets: Secrets) -> Section:
    lines = [f"  merges cleanly: {p}" for p in sorted(plan.merged)]
    for conflict in plan.conflicts:
        lines.append(f"  conflict: {conflict.path}: {conflict.reason}")
        for hunk in conflict.hunks:
            lines += [f"    {line}" for line in hunk.describe(conflict.path)]
    lines += [f"  conflict: {c.path}: {c.reason}" for c in secrets.edited]
    lines += [f"  stays as you edited it (the render does not change it): {p}" for p in plan.edited]
    return Section("hand edits", tuple(lines), conflicts=len(plan.conflicts) + len(secrets.edited))


def _released(plan: WritePlan, manifest: Manifest) -> Section:
    changed = [p for p in sorted(plan.released) if manifest.released.get(p) != plan.new.released[p]]
    lines = [f"  {p}: the new render differs; configure leaves it to you" for p in changed]
    return Section("files you took over (--keep-mine)", tuple(lines))


def _stale_overrides(workdir: Path, manifest: Manifest) -> Section:
    lines = [f"  {stale}" for stale in stale_overrides(workdir, manifest)]
    return Section("overrides of a changed built-in template", tuple(lines))


def _secrets(result: RenderResult, manifest: Manifest, workdir: Path) -> Secrets:
    """Each rendered secret: new, changed (its plaintext), or edited by hand since written."""
    rendered = {p: b for p, b in result.tree.files.items() if is_secret_path(p)}
    # A file still as configure wrote it from this very plaintext needs no sops run.
    decrypt = result.decrypt_vouched(Written(manifest.files, manifest.fingerprints))
    created: list[str] = []
    changed: list[str] = []
    edited: list[Conflict] = []
    for path, plaintext in sorted(rendered.items()):
        try:
            on_disk = (workdir / path).read_bytes()
        except FileNotFoundError:
            created.append(path)
            continue
        if decrypt(path, on_disk) == plaintext:
            continue
        refused = secret_outcome(manifest, path, on_disk)
        if refused is None:
            changed.append(path)
        else:
            edited.append(refused)
    return Secrets(tuple(created), tuple(changed), tuple(edited))


def _notes(result: RenderResult, manifest: Manifest, unknowable: frozenset[str]) -> list[str]:
    notes: list[str] = []
    if result.sops is None:
        secrets = sum(is_secret_path(p) for p in result.tree.files)
        notes.append(
            f"note: no age.key: {secrets} secret file(s) and {len(unknowable)} file(s) derived "
            "from secret values are not checked"
        )
    elif manifest.config_digest and manifest.config_digest != config_digest_for(
        result.cluster.digest, result.sops
    ):
        notes.append(
            "note: cluster.yaml changed since the last configure too: some of these changes "
            "come from it, not from the templates"
        )
    return notes
