"""`clustergen diff`: render in memory and compare with the working tree or a git revision."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from generator import paths
from generator.diff.derived import secret_derived_files
from generator.diff.git import read_git_tree
from generator.diff.output import FORMATS
from generator.diff.trees import (
    Conflicting,
    Decrypt,
    Recipients,
    TakenOver,
    TreeDiff,
    diff_trees,
)
from generator.errors import ClusterGenError
from generator.report import Report
from generator.secrets.files import SOPS_CONFIG
from generator.secrets.metadata import parse_rules, rule_for
from generator.write.manifest import Manifest, load_manifest, sha256_hex
from generator.write.ownership import trusted, vouched_by
from generator.write.writer import (
    Conflict,
    WritePlan,
    as_configure_leaves,
    preview_plan,
    secret_outcome,
)

__all__ = [
    "compare",
    "read_work_tree",
    "run_diff",
]


def read_work_tree(workdir: Path, paths_: set[str]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for rel in sorted(paths_):
        path = workdir / rel
        if path.is_file():
            files[rel] = path.read_bytes()
    return files


def owned_paths(manifest: bytes | None) -> set[str]:
    """Paths in `.clustergen/manifest.json` ({"files": {path: sha256}}); empty if absent."""
    if manifest is None:
        return set()
    try:
        files = json.loads(manifest).get("files", {})
    except (ValueError, AttributeError, RecursionError) as err:
        raise ClusterGenError(
            f"{paths.MANIFEST_PATH} is not valid JSON ({err}); restore it from git"
        ) from None
    return {str(p) for p in files} if isinstance(files, dict) else set()


def compare(
    new: Mapping[str, bytes],
    workdir: Path,
    against: str | None,
    decrypt: Decrypt | None,
    probe: Mapping[str, bytes] | None = None,
) -> TreeDiff:
    """The render `new` against the working tree (`against` None) or a git revision.

    Against the working tree, hand edits are what configure's own plan makes of them
    (writer.preview_plan): merged or kept edits are no difference, a conflict is one
    (shown with its hunks), and files you took over are shown apart."""
    if against is not None:
        recorded = read_git_tree(workdir, against, [paths.MANIFEST_PATH]).get(paths.MANIFEST_PATH)
        owned = owned_paths(recorded)
        old = read_git_tree(workdir, against, set(new) | owned)
        return diff_trees(
            new,
            old,
            decrypt_old=decrypt,
            owned=owned,
            probe=probe,
            recipients=_recipients(new, workdir),
        )
    manifest_file = workdir / paths.MANIFEST_PATH
    owned = owned_paths(manifest_file.read_bytes() if manifest_file.is_file() else None)
    old = read_work_tree(workdir, set(new) | owned)
    manifest, _ = trusted(load_manifest(workdir), None)
    planned = _configure_plan(new, workdir, manifest, probe)
    leaves = as_configure_leaves(planned, workdir)
    left_out = {c.path for c in planned.conflicts} | set(planned.kept)
    leaves = {p: b for p, b in new.items() if p not in planned.files} | leaves
    diff = diff_trees(
        {p: b for p, b in leaves.items() if p not in left_out},
        {p: b for p, b in old.items() if p not in left_out},
        decrypt_old=decrypt,
        owned=owned - left_out,
        probe=probe,
        recipients=_recipients(new, workdir),
        render=new,
    )
    secrets = _edited_secrets(diff, old, manifest)
    return replace(
        diff,
        changed=tuple(c for c in diff.changed if c.path not in secrets),
        conflicts=(*(_conflicting(c) for c in planned.conflicts), *secrets.values()),
        kept=tuple(planned.kept),
        taken_over=_taken_over(planned, workdir),
    )


def _configure_plan(
    new: Mapping[str, bytes],
    workdir: Path,
    manifest: Manifest,
    probe: Mapping[str, bytes] | None,
) -> WritePlan:
    """configure's plan for the files a render without keys can know (not the secrets,
    nor the files derived from secret values)."""
    return preview_plan(new, workdir, manifest, unknown=secret_derived_files(new, probe))


def _conflicting(conflict: Conflict) -> Conflicting:
    lines = [line for hunk in conflict.hunks for line in hunk.describe(conflict.path)]
    return Conflicting(conflict.path, conflict.reason, tuple(lines))


def _edited_secrets(
    diff: TreeDiff, old: Mapping[str, bytes], manifest: Manifest
) -> dict[str, Conflicting]:
    """Changed secret files that are not what configure wrote: configure refuses them
    (secrets never merge), so they are conflicts, not changes."""
    out: dict[str, Conflicting] = {}
    for change in diff.changed:
        if change.secret and (refused := secret_outcome(manifest, change.path, old[change.path])):
            out[change.path] = _conflicting(refused)
    return out


def _taken_over(plan: WritePlan, workdir: Path) -> tuple[TakenOver, ...]:
    """Each file you took over whose render differs from it: the file against its render."""
    out = []
    for path in sorted(plan.released):
        try:
            on_disk = (workdir / path).read_bytes()
        except OSError:
            continue  # gone: configure leaves it gone
        render = plan.files[path]
        shown = diff_trees({path: render}, {path: on_disk})
        for change in (*shown.changed, *shown.reformatted):
            changed = plan.old.released.get(path) != sha256_hex(render)
            out.append(TakenOver(change, render_changed=changed))
    return tuple(out)


def _recipients(new: Mapping[str, bytes], workdir: Path) -> Recipients | None:
    """Who each secret file is written for: the rules of the `.sops.yaml` the render
    writes (else the one on disk); None without either."""
    config = new.get(SOPS_CONFIG)
    if config is None:
        on_disk = workdir / SOPS_CONFIG
        config = on_disk.read_bytes() if on_disk.is_file() else None
    if config is None:
        return None
    rules = parse_rules(config, SOPS_CONFIG)

    def recipients(path: str) -> frozenset[str] | None:
        rule = rule_for(rules, path)
        return rule.recipients if rule else None

    return recipients


def run_diff(
    config: Path, against: str | None, output_format: str, check: bool, color: bool = False
) -> Report:
    """The differences; with `check`, status 1 when anything differs. `color`: ANSI
    colours for a terminal (generator/diff/color.py decides)."""
    from generator.pipeline import refuse_before_render, render_in_memory
    from generator.secrets.keys import discover_age_key

    if output_format not in FORMATS:
        raise ClusterGenError(f"unknown format {output_format!r}; use one of {', '.join(FORMATS)}")
    # What configure refuses, diff refuses: a drift check that passes where configure
    # cannot run would hide it. Keyless (CI), only what needs no key (a tracked plaintext).
    held = discover_age_key(config.resolve().parent)
    refuse_before_render(config, held, keyless=True)
    # Without an age key (CI) secret files are reported as not compared, never guessed.
    result = render_in_memory(config, keyless=True, held=held)
    # A secret file still as configure wrote it from the plaintext just rendered is equal
    # without a sops run; any other one is decrypted, with age.key.old during a rotation.
    decrypt = None
    if result.sops:
        decrypt = result.decrypt_vouched(vouched_by(result.workdir, result.sops.fingerprint_key))
    diff = compare(result.tree.files, result.workdir, against, decrypt, result.probe)
    text = FORMATS[output_format](diff, color)
    return Report(text, status=1 if check and diff.differs else 0)
