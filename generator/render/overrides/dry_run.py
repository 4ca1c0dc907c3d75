"""What `clustergen check` can tell about overrides/ only by rendering: that each merge
patch's target exists, and that each override renders valid YAML.

The render is in memory, with placeholders for every secret value and side file (no
sops run, no key needed, nothing written): ~0.2 s, paid only when overrides/ exists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from generator import paths
from generator.bounded_yaml import nodes, syntax_error
from generator.errors import Problem
from generator.render.context import build_context, load_versions
from generator.render.environment import OverrideError
from generator.render.overrides.files import OVERRIDES_DIR, PATCHES_DIR, find_overrides
from generator.render.tree import render_tree
from generator.sidefiles import placeholder_side_files


def check_rendered_overrides(cluster_context: dict[str, Any], workdir: Path) -> None:
    """OverrideError naming each patch whose target no rendered object matches (with the
    closest name) and each override that renders invalid YAML (its file and line);
    RenderError for an override template that fails. `cluster_context`:
    `Cluster.context()` of the checked cluster.yaml."""
    overrides = find_overrides(workdir)
    if not overrides:
        return
    side = placeholder_side_files(workdir)
    context = build_context(cluster_context, side, load_versions(paths.VERSIONS_FILE))
    tree = render_tree(context, overrides=overrides)
    problems: list[Problem] = []
    for out, origin in sorted(tree.origins.items()):
        if origin.startswith(f"{OVERRIDES_DIR}/{PATCHES_DIR}/"):
            continue  # written by the patch serializer: valid YAML by construction
        if out.endswith((".yaml", ".yml")):
            problems += _yaml_problems(tree.files[out], out, origin)
    if problems:
        raise OverrideError(problems)


def _yaml_problems(content: bytes, out: str, origin: str) -> list[Problem]:
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return [Problem("", f"renders {out}, which is not UTF-8 text", origin)]
    try:
        for _ in nodes(text):
            pass
    except yaml.YAMLError as err:
        problem, line = syntax_error(err, text)
        if not origin.endswith(".j2"):  # copied as it is: its lines are the output's
            return [Problem("", f"invalid YAML: {problem}", origin, line)]
        at = f" at its line {line}" if line else ""
        return [Problem("", f"renders {out}, which is invalid YAML{at}: {problem}", origin)]
    return []
