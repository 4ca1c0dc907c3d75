"""`clustergen diff`: render in memory and compare with the working tree or a git revision."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from generator import paths
from generator.diff.git import read_git_tree
from generator.diff.output import FORMATS
from generator.diff.trees import Decrypt, TreeDiff, diff_trees
from generator.errors import ClusterGenError
from generator.report import Report

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
    if against is None:
        manifest_file = workdir / paths.MANIFEST_PATH
        manifest = manifest_file.read_bytes() if manifest_file.is_file() else None
        owned = owned_paths(manifest)
        old = read_work_tree(workdir, set(new) | owned)
        new = _as_configure_leaves(new, workdir, probe)
    else:
        manifest = read_git_tree(workdir, against, [paths.MANIFEST_PATH]).get(paths.MANIFEST_PATH)
        owned = owned_paths(manifest)
        old = read_git_tree(workdir, against, set(new) | owned)
    return diff_trees(new, old, decrypt_old=decrypt, owned=owned, probe=probe)


def _as_configure_leaves(
    new: Mapping[str, bytes], workdir: Path, probe: Mapping[str, bytes] | None
) -> dict[str, bytes]:
    """The render with hand edits as configure would merge or keep them: they are no drift."""
    from generator.write.manifest import load_manifest
    from generator.write.ownership import trusted
    from generator.write.writer import as_configure_leaves

    manifest, _ = trusted(load_manifest(workdir), None)
    derived = {p for p, b in new.items() if probe is not None and probe.get(p) != b}
    return as_configure_leaves(new, workdir, manifest, skip=derived)


def run_diff(config: Path, against: str | None, output_format: str, check: bool) -> Report:
    """The differences; with `check`, status 1 when anything differs."""
    from generator.pipeline import render_in_memory

    if output_format not in FORMATS:
        raise ClusterGenError(f"unknown format {output_format!r}; use one of {', '.join(FORMATS)}")
    # Without an age key (CI) secret files are reported as not compared, never guessed.
    result = render_in_memory(config, keyless=True)
    diff = compare(result.tree.files, result.workdir, against, result.decrypt, result.probe)
    return Report(FORMATS[output_format](diff), status=1 if check and diff.differs else 0)
