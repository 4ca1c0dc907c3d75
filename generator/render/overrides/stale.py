"""Overrides whose built-in template changed since they were last rendered.

Each configure records in the manifest (`overrides`) which built-in template each override
shadowed and the sha256 of its bytes. When a newer clustergen changes that template, the
override still wins, silently carrying the old version of everything else in that file:
`stale_overrides` names them, and `configure`/`check` print one warning each (under
--strict the run stops, so nothing is recorded and the warning stays until the override
is reviewed and the run goes through). `configure` then records the new digest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from generator import paths
from generator.errors import Problem
from generator.render.overrides.files import OVERRIDES_DIR, template_digest
from generator.write.manifest import Manifest

TEMPLATE_DIR = "templates/config"


@dataclass(frozen=True)
class StaleOverride:
    override: str  # "overrides/kubernetes/…/helmrelease.yaml.j2"
    template: str  # "templates/config/kubernetes/…/helmrelease.yaml.j2"
    removed: bool  # the built-in template is gone, not changed

    def __str__(self) -> str:
        change = "was removed" if self.removed else "changed"
        return f"{self.template} {change} since you overrode it: review {self.override}"


def stale_overrides(
    root: Path, manifest: Manifest, data_root: Path = paths.DATA_ROOT
) -> list[StaleOverride]:
    """The overrides under `root` (the repository) whose built-in template (under
    `data_root`, the clustergen checkout) differs from the sha256 the manifest recorded,
    sorted by override path. Overrides since deleted are not listed."""
    stale: list[StaleOverride] = []
    for override, shadowed in sorted(manifest.overrides.items()):
        # The manifest is committed, so a pull request can edit it: only paths of the shape
        # configure records are looked at, never one that leaves its directory.
        if not (_under(override, OVERRIDES_DIR) and _under(shadowed.template, TEMPLATE_DIR)):
            continue
        if not (root / override).is_file():
            continue
        digest = template_digest(data_root / shadowed.template)
        if digest != shadowed.sha256:
            stale.append(StaleOverride(override, shadowed.template, removed=not digest))
    return stale


def _under(path: str, top: str) -> bool:
    parts = PurePosixPath(path).parts
    return path.startswith(f"{top}/") and ".." not in parts and not path.startswith("/")


def stale_warnings(root: Path, manifest: Manifest) -> list[Problem]:
    """`stale_overrides` as warnings on the config's channel, each naming the override."""
    return [Problem("", str(s), s.override) for s in stale_overrides(root, manifest)]
