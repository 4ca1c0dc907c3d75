"""Rendering the kubernetes/ templates for tests, from cluster.sample.yaml and variants of it.

A variant is the sample with dotted keys changed (`{"ingress.mode": "none"}`), loaded by
the real config loader (defaults, rules, derived values) and rendered by the real renderer.
Side files are tests/fakes.py's: a real age key from pyrage, fake deploy key and tunnel values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from generator.validate.schemas import SchemaStore
from tests.rendering import context_of, render_sample, sample_with, shared_templates, write_config
from tests.shared import CRD_SCHEMA_LOCATION, CRD_SCHEMAS

Tree = dict[str, bytes]
Render = Callable[[Mapping[str, Any]], Tree]
ContextFor = Callable[[Mapping[str, Any]], dict[str, Any]]

CORE_NAMESPACES = ("flux-system", "kube-system", "cert-manager", "network", "default")


@pytest.fixture(scope="session")
def sample() -> dict[str, Any]:
    return sample_with({})


# The core namespaces and what they build on; feature namespaces have their own tests.
CORE_DIRS = (
    "kubernetes/flux",
    "kubernetes/components",
    *(f"kubernetes/apps/{ns}" for ns in CORE_NAMESPACES),
)


@pytest.fixture(scope="session")
def kubernetes_templates() -> Path:
    """A template root holding only CORE_DIRS, so that templates of other areas (and work in
    progress there) can neither break nor satisfy these tests."""
    return shared_templates(CORE_DIRS)


@pytest.fixture(scope="session")
def ci_templates() -> Path:
    """The CI templates (and talos/, whose annotations Renovate reads) without the rest."""
    return shared_templates((".github", "talos", ".renovaterc.json5.j2"))


@pytest.fixture(scope="session")
def context_for(tmp_path_factory: pytest.TempPathFactory) -> ContextFor:
    """The template context of the sample with `changes` applied."""

    def _context(changes: Mapping[str, Any]) -> dict[str, Any]:
        return context_of(write_config(sample_with(changes), tmp_path_factory.mktemp("cluster")))

    return _context


def make_renderer(root: Path, context_for: ContextFor | None = None) -> Render:
    """{path: bytes} of the templates under `root` for the sample with `changes` applied,
    each combination rendered once per process (tests/rendering.py's render_sample)."""

    def _render(changes: Mapping[str, Any]) -> Tree:
        return render_sample(changes, template_root=root)

    return _render


@pytest.fixture(scope="session")
def render(kubernetes_templates: Path, context_for: ContextFor) -> Render:
    """{path: bytes} of kubernetes/ for the sample with `changes` applied."""
    return make_renderer(kubernetes_templates, context_for)


@pytest.fixture(scope="session")
def schemas() -> SchemaStore:
    """The CRD schemas beside the repository, compiled once for the session."""
    if not CRD_SCHEMAS.is_dir():
        pytest.skip(f"CRD schemas not found at {CRD_SCHEMAS}")
    return SchemaStore([CRD_SCHEMA_LOCATION])
