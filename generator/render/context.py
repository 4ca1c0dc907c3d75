"""The template context: cluster sections + derived, side files and versions (DESIGN.md)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from generator.bounded_yaml import syntax_error
from generator.errors import ClusterGenError

RESERVED = ("side", "versions")
# libyaml when available: the pure-Python loader takes ~15 ms for versions.yaml.
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def build_context(
    cluster_context: Mapping[str, Any],
    side: Mapping[str, Any] | object,
    versions: Mapping[str, Any],
) -> dict[str, Any]:
    """Every global a template sees: the cluster's sections and `derived`, `side`, `versions`.

    `side` may be the SideFiles dataclass or a plain mapping; templates see a dict.
    """
    clash = [key for key in RESERVED if key in cluster_context]
    if clash:
        # The config model owns the sections; a clash is a bug in clustergen, not user input.
        raise ValueError(f"cluster context must not define {clash}")
    if dataclasses.is_dataclass(side) and not isinstance(side, type):
        side_dict = dataclasses.asdict(side)
    elif isinstance(side, Mapping):
        side_dict = dict(side)
    else:
        raise TypeError(f"side must be a dataclass instance or a mapping, not {type(side)}")
    return {**cluster_context, "side": side_dict, "versions": dict(versions)}


def load_versions(path: Path) -> dict[str, Any]:
    """The parsed versions file (templates/versions.yaml), read once per content."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise ClusterGenError(
            f"{path} is missing; it ships with clustergen, restore it from git"
        ) from None
    return dict(_load_versions(path.resolve(), stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=8)
def _load_versions(path: Path, mtime_ns: int, size: int) -> Mapping[str, Any]:
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as err:
        problem, line = syntax_error(err, text)
        where = f"{path}:{line}" if line is not None else str(path)
        raise ClusterGenError(f"{where}: not valid YAML ({problem}); restore it from git") from err
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ClusterGenError(f"{path}: must be a mapping of names to versions")
    return data
