"""Which component of the repository a rendered path belongs to, for grouping a diff.

A component is a Flux app directory (`kubernetes/apps/<namespace>/<app>/`), a
namespace's own files (`kubernetes/apps/<namespace>/`), another directory under
`kubernetes/` (`kubernetes/flux/`, `kubernetes/components/`), a top-level directory
(`talos/`, `bootstrap/`, `.github/`, `docs/`, `scripts/`), or the repository root.
"""

from __future__ import annotations

from collections.abc import Iterable

ROOT = "(repository root)"


def component(path: str) -> str:
    """`kubernetes/apps/default/echo/app/helmrelease.yaml` → `kubernetes/apps/default/echo/`;
    `talos/talconfig.yaml` → `talos/`; `.sops.yaml` → ROOT."""
    parts = path.split("/")
    if parts[:2] == ["kubernetes", "apps"] and len(parts) > 3:
        depth = 4 if len(parts) > 4 else 3
    elif parts[0] == "kubernetes" and len(parts) > 2:
        depth = 2
    elif len(parts) > 1:
        depth = 1
    else:
        return ROOT
    return "/".join(parts[:depth]) + "/"


def by_component(paths: Iterable[str]) -> dict[str, list[str]]:
    """Paths grouped by component: components in path order, the repository root last;
    each group's paths sorted."""
    groups: dict[str, list[str]] = {}
    for path in sorted(paths):
        groups.setdefault(component(path), []).append(path)
    order = sorted(groups, key=lambda name: (name == ROOT, name))
    return {name: groups[name] for name in order}
