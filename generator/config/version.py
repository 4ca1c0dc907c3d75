"""The schema version of cluster.yaml: which layout of keys a file is written in.

The first release wrote no version, so a file without `schema_version` is version 1.
A file older than `CURRENT` is refused before any other check (its renamed keys would
otherwise read as a pile of unknown-key errors) with the command that migrates it
(generator/migrations/); a newer one is refused too: it was written for a newer clustergen.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from generator.config.locate import KeyPath, Position
from generator.errors import ConfigError, Problem
from generator.paths import CONFIG_NAME

KEY = "schema_version"
# A file without the key: what the first release wrote.
FIRST = 1
# The version this clustergen reads and `clustergen migrate` writes.
CURRENT = 2


def file_version(data: Mapping[str, Any]) -> int | None:
    """The version `data` (cluster.yaml's top level) says it is: FIRST when the key is
    missing, None when its value is not a version at all (not a whole number ≥ 1)."""
    if KEY not in data:
        return FIRST
    value = data[KEY]
    if isinstance(value, bool) or not isinstance(value, int) or value < FIRST:
        return None
    return value


def migrate_command(path: Path) -> str:
    """The command that migrates the config at `path`, as the user types it."""
    option = "" if path.name == CONFIG_NAME and path.parent == Path() else f" --config {path}"
    return f"uv run clustergen migrate{option}"


def require_current(
    data: Mapping[str, Any], positions: Mapping[KeyPath, Position], path: Path
) -> None:
    """Raise ConfigError (naming the key and its line) unless `data` is version CURRENT.

    `data` and `positions` are the loaded file (config.loader.LoadedYaml), `path` the
    path the user gave, so the message's command works as printed.
    """
    version = file_version(data)
    if version == CURRENT:
        return
    name = path.name
    # A missing key is reported at the top of the file: its parent, the top-level mapping,
    # starts at the first key (below the comments), which is not where the key is missing.
    line, col = positions.get((KEY,)) or (1, 1)
    if version is None:
        message = (
            f"must be a whole number from {FIRST} up, the schema version of {name} "
            f"(this clustergen reads {CURRENT}); {_found(data[KEY])}"
        )
    elif version < CURRENT:
        said = (
            f"{name} is schema version {version}"
            if KEY in data
            else f"the key is missing, so {name} is schema version {version} (as the first "
            "release wrote it)"
        )
        message = f"{said}; this clustergen reads version {CURRENT}: run `{migrate_command(path)}`"
    else:
        message = (
            f"{name} is schema version {version}; this clustergen reads version {CURRENT} "
            "(and migrates older ones): take the newer clustergen it was written for "
            '(README, "Upgrading clustergen")'
        )
    raise ConfigError([Problem(key=KEY, message=message, file=name, line=line, col=col)])


def _found(value: object) -> str:
    """What was written instead of a version, as YAML shows it, and the fix when it is clear."""
    if isinstance(value, bool):
        return f"found {str(value).lower()}"
    if isinstance(value, str) and value.strip().isdigit():
        return f"found the string {value!r}: write it without quotes ({KEY}: {value.strip()})"
    if isinstance(value, float) and value.is_integer() and value >= FIRST:
        return f"found {value}: write it without the fraction ({KEY}: {int(value)})"
    return "found nothing" if value is None else f"found {value!r}"
