"""`clustergen migrate`: rewrite cluster.yaml in the schema version this clustergen reads.

Only the lines a migration changes are rewritten (document.Document); the file is replaced
atomically (generator/atomic.py) with its mode kept, so an interruption leaves the old file.
`dry_run` and `check` print the same report and write nothing; `check` exits 1 while a
migration is due (CI).
"""

from __future__ import annotations

import difflib
import stat
from pathlib import Path
from typing import Any

from generator.atomic import atomic_write
from generator.config import version
from generator.config.loader import load_yaml
from generator.config.locate import KeyPath, all_paths, format_path
from generator.config.schema import is_secret
from generator.migrations import migrate, renamed_keys
from generator.migrations.document import Document, MigrationError, lines_of
from generator.paths import SECRETS_CONFIG_NAME
from generator.report import Report

_BOM = "\ufeff"


def run_migrate(config_path: Path, *, dry_run: bool = False, check: bool = False) -> Report:
    """Migrate the config at `config_path` to version.CURRENT. Returns what changed and the
    diff of the file (changed lines only: context lines could hold secret values).

    Raises ConfigError when the file cannot be read as YAML, its `schema_version` is not a
    version, or it is newer than this clustergen; MigrationError when a key cannot be
    renamed as written (both names set, a key from a `<<:` merge) or the file cannot be
    rewritten (an OSError, with the old file left as it was).
    """
    loaded = load_yaml(config_path)  # size and alias limits, syntax errors with their line
    source = version.file_version(loaded.data)
    if source is None or source > version.CURRENT:
        version.require_current(loaded.data, loaded.positions, config_path)
    assert source is not None
    _refuse_renamed_in_overlay(config_path)  # before anything is written: nothing half-done
    name = config_path.name
    if source == version.CURRENT:
        return Report(f"{name} is schema version {version.CURRENT} already; nothing to migrate")
    target = config_path.resolve()  # a symlinked cluster.yaml keeps its link
    raw = target.read_bytes().decode("utf-8")
    bom = _BOM if raw.startswith(_BOM) else ""
    text = raw.removeprefix(bom)
    document = Document(text, name)
    changes = migrate(document, source)
    migrated = document.text()
    diff = difflib.unified_diff(
        lines_of(text),
        lines_of(migrated),
        fromfile=f"{name} (schema version {source})",
        tofile=f"{name} (schema version {version.CURRENT})",
        n=0,
    )
    shown = _masked([line.rstrip("\r\n") for line in diff], loaded.data)
    steps = f"from schema version {source} to {version.CURRENT}"
    listed = [f"  {change}" for change in changes]
    if dry_run or check:
        command = version.migrate_command(config_path)
        head = f"{name} needs migrating {steps} (nothing written; run `{command}`):"
        return Report.of([head, *listed, *shown], status=1 if check else 0)
    mode = stat.S_IMODE(target.stat().st_mode)
    try:
        atomic_write(target, (bom + migrated).encode("utf-8"), mode)
    except OSError as err:  # a read-only directory or disk, a full disk: the file stays as it was
        raise MigrationError(
            f"{name}: cannot be rewritten in {target.parent}: {err.strerror or err}; nothing "
            "was changed (make the folder writable, or migrate a copy and put it in place)"
        ) from None
    return Report.of(
        [
            f"migrated {name} {steps}:",
            *listed,
            *shown,
            "next: `uv run clustergen check`, then `uv run task configure`",
        ]
    )


def _refuse_renamed_in_overlay(config_path: Path) -> None:
    """Raise MigrationError naming each renamed key (renamed_keys) that the overlay next to
    `config_path` still uses, with the edit that fixes it.

    The overlay's keys are in clear in the sops file, so finding them needs no key; it is
    not rewritten here: that would need the key and a re-encryption, and `sops edit` is
    the one way the README gives to change it (values never pass through this process).
    """
    overlay = config_path.resolve().parent / SECRETS_CONFIG_NAME
    if not overlay.is_file():
        return
    loaded = load_yaml(overlay)
    found = []
    for old, new in sorted(renamed_keys().items()):
        if _has(loaded.data, old):
            line = loaded.positions.get(old)
            where = f"{SECRETS_CONFIG_NAME}:{line[0]}" if line else SECRETS_CONFIG_NAME
            found.append(f"  {where} {format_path(old)}: rename {old[-1]} to {new[-1]}")
    if found:
        raise MigrationError(
            "\n".join(
                [
                    f"{SECRETS_CONFIG_NAME} uses key names the current schema version renamed; "
                    "migrate does not rewrite the encrypted file, and nothing was changed:",
                    *found,
                    f"rename them with `SOPS_AGE_KEY_FILE=age.key uv run sops edit "
                    f"{SECRETS_CONFIG_NAME}`, then run `{version.migrate_command(config_path)}` "
                    "again",
                ]
            )
        )


def _has(data: Any, path: KeyPath) -> bool:
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


def _masked(lines: list[str], data: Any) -> list[str]:
    """`lines` with the value of every secret key (`x-secret` in the schema) shown as
    `<secret>`: a changed line of a flow mapping can hold one beside the renamed key."""
    secrets = sorted(
        {
            str(_at(data, path))
            for path, leaf in all_paths(data)
            if leaf and is_secret(path) and str(_at(data, path))
        },
        key=len,
        reverse=True,
    )
    for secret in secrets:
        lines = [line.replace(secret, "<secret>") for line in lines]
    return lines


def _at(data: Any, path: KeyPath) -> Any:
    for part in path:
        data = data[part]
    return data
