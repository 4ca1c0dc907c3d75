"""What the guards publish, for tests: the namespaces a context leaves on, the guards that
name a feature, and renders with a feature switched off (tests/features.py has the flags)."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from generator import paths
from generator.render.environment import make_environment
from generator.render.guards import FOLDER_GUARDS, GUARD_NAME, DirectoryGuards
from generator.render.namespaces import publish_namespaces
from tests.features import ENABLE_FLAGS, all_features_changes


def published(context: Mapping[str, Any], root: Path = paths.TEMPLATE_TREE) -> list[dict[str, Any]]:
    """The `namespaces` every template of `root` sees with `context`."""
    env = make_environment([root, paths.TEMPLATES], globals=context)
    return publish_namespaces(env, root, DirectoryGuards(env, [root]).wanted)


def without(feature: str) -> dict[str, Any]:
    """Every feature on (tests/features.py) except `feature`, whose flags are all off."""
    changes = all_features_changes()
    changes.update(
        dict.fromkeys((f for f in ENABLE_FLAGS if f.startswith(f"features.{feature}.")), False)
    )
    return changes


def guarded_folders(feature: str, root: Path = paths.TEMPLATE_TREE) -> list[str]:
    """Output folders (posix, relative, with a trailing /) whose guard names `feature`;
    for the project's own template tree (which no test edits) looked up once per process."""
    if root == paths.TEMPLATE_TREE:
        return list(_guarded_in_template_tree(feature))
    return _guarded_folders(feature, root)


@functools.cache
def _guarded_in_template_tree(feature: str) -> tuple[str, ...]:
    return tuple(_guarded_folders(feature, paths.TEMPLATE_TREE))


def _guarded_folders(feature: str, root: Path) -> list[str]:
    mention = re.compile(rf"\bfeatures\.{feature}\b")
    found = [
        guard.parent.relative_to(root).as_posix() + "/"
        for guard in root.rglob(GUARD_NAME)
        if mention.search(guard.read_text(encoding="utf-8"))
    ]
    by_name = yaml.safe_load((root / FOLDER_GUARDS).read_text(encoding="utf-8")) or {}
    names = {name for name, expression in by_name.items() if mention.search(expression)}
    found += [
        folder.relative_to(root).as_posix() + "/"
        for folder in root.rglob("*")
        if folder.is_dir() and folder.name in names
    ]
    return sorted(found)
