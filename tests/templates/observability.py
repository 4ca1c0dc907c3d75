"""Rendering helpers for the observability tests (features.monitoring, flux_notifications).

The tree holds the core namespaces plus what these features add (the observability
namespace and docs/runbooks), rendered from cluster.sample.yaml with dotted-key changes by
the real loader and renderer (tests/templates/conftest.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from tests.rendering import EVERY_CHART, render_sample, shared_templates
from tests.templates.conftest import CORE_DIRS, ContextFor, Render, Tree, make_renderer

OBSERVABILITY_DIRS = ("kubernetes/apps/observability", "docs/runbooks")


def observability_renderer(
    tmp_path_factory: pytest.TempPathFactory, context_for: ContextFor
) -> Render:
    """Renders of the core namespaces plus OBSERVABILITY_DIRS, cached by their changes."""
    directories = (*CORE_DIRS, *OBSERVABILITY_DIRS)
    return make_renderer(shared_templates(directories), context_for)


def render_everything(
    tmp_path_factory: pytest.TempPathFactory,
    context_for: ContextFor,
    changes: Mapping[str, Any],
) -> Tree:
    """The whole kubernetes/ and docs/ trees with EVERY_CHART and `changes`, from a render of
    the full template tree (the docs read the Talos and Kubernetes versions from talos/,
    and other files' renders of the same config share it, tests/rendering.py), then only
    those two: the tree is read as Kubernetes objects and their docs."""
    tree = render_sample({**EVERY_CHART, **changes})
    return {path: data for path, data in tree.items() if path.startswith(("kubernetes/", "docs/"))}
