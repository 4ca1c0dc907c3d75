"""Config migrations: one function per schema version step, applied in order.

`STEPS[n]` turns a version-n cluster.yaml (a `Document`: the ruamel.yaml round-trip tree
and its text, edited together) into version n + 1 and returns one line per change it made.
`migrate` runs every step from the file's version to config.version.CURRENT, then sets
`schema_version`. A step never drops a value: a key whose new name is taken too stops the
migration with the choice left to the user (document.MigrationError).
"""

from __future__ import annotations

from collections.abc import Callable

from generator.config import version
from generator.config.locate import KeyPath
from generator.migrations import v1_to_v2
from generator.migrations.document import Document

Step = Callable[[Document], list[str]]

STEPS: dict[int, Step] = {1: v1_to_v2.migrate}

# The comment above a `schema_version` the migration adds (cluster.sample.yaml's words).
VERSION_COMMENT = (
    "Schema version of this file (which layout of keys it uses). Required. A newer clustergen",
    "that renames keys says so, and `uv run clustergen migrate` updates the file, comments kept.",
)


def migrate(document: Document, source: int) -> list[str]:
    """Bring `document`, written in schema version `source`, to version.CURRENT in place.
    Returns what changed, one line each; [] when it already was current."""
    if source == version.CURRENT:
        return []
    changes: list[str] = []
    for step in range(source, version.CURRENT):
        changes += STEPS[step](document)
    had_key = version.KEY in document.tree
    document.set_top(version.KEY, version.CURRENT, () if had_key else VERSION_COMMENT)
    verb = "set" if had_key else "added"
    changes.append(f"{verb} {version.KEY}: {version.CURRENT}")
    return changes


def renamed_keys() -> dict[KeyPath, KeyPath]:
    """Every key path a migration renames, old → new (the spec's tables predate them)."""
    return {path: (*path[:-1], new) for path, new in v1_to_v2.RENAMES}
