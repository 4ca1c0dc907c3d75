"""Rendering the kubernetes/ templates for tests, from cluster.sample.yaml and variants of it.

A variant is the sample with dotted keys changed (`{"ingress.mode": "none"}`), loaded by
the real config loader (defaults, rules, derived values) and rendered by the real renderer.
Side files are a stand-in: a real age key from pyrage, fake deploy key and tunnel values.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pyrage
import pytest
import yaml

from generator import paths
from generator.config import load_cluster
from generator.render.context import build_context, load_versions
from generator.render.tree import render_tree
from generator.sidefiles import SideFiles

Render = Callable[[Mapping[str, Any]], dict[str, bytes]]

FAKE_DEPLOY_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
FAKE_DEPLOY_KEY_PUB = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeFakeFakeFakeFakeFakeFakeFakeFakeFake flux"
)
WEBHOOK_TOKEN = "0123456789abcdef0123456789abcdef"
TUNNEL_ID = "6f2a1c3e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"
TUNNEL_TOKEN = "eyJhIjoiYWNjb3VudCIsInQiOiJ0dW5uZWwiLCJzIjoic2VjcmV0In0="
CORE_NAMESPACES = ("flux-system", "kube-system", "cert-manager", "network", "default")


def _with_changes(data: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(data)
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        target = data
        for key in parents:
            if not isinstance(target.get(key), dict):
                target[key] = {}
            target = target[key]
        target[leaf] = value
    return data


def _side(context: Mapping[str, Any]) -> SideFiles:
    identity = pyrage.x25519.Identity.generate()
    ssh = context["derived"]["repo_is_ssh"]
    tunnel = context["ingress"]["mode"] == "cloudflare-tunnel"
    return SideFiles(
        age_public_key=str(identity.to_public()),
        age_private_key=str(identity),
        webhook_token=WEBHOOK_TOKEN,
        deploy_key=FAKE_DEPLOY_KEY if ssh else None,
        deploy_key_pub=FAKE_DEPLOY_KEY_PUB if ssh else None,
        tunnel_id=TUNNEL_ID if tunnel else None,
        tunnel_account="0123456789abcdef0123456789abcdef" if tunnel else None,
        tunnel_secret="c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0" if tunnel else None,
        tunnel_token=TUNNEL_TOKEN if tunnel else None,
    )


@pytest.fixture(scope="session")
def sample() -> dict[str, Any]:
    data = yaml.safe_load(paths.SAMPLE_CONFIG.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


# The core namespaces and what they build on; feature namespaces have their own tests.
CORE_DIRS = (
    "kubernetes/flux",
    "kubernetes/components",
    *(f"kubernetes/apps/{ns}" for ns in CORE_NAMESPACES),
)


@pytest.fixture(scope="session")
def kubernetes_templates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A template root holding only CORE_DIRS, so that templates of other areas (and work in
    progress there) can neither break nor satisfy these tests."""
    root = tmp_path_factory.mktemp("templates") / "config"
    for directory in CORE_DIRS:
        shutil.copytree(paths.TEMPLATE_TREE / directory, root / directory)
    return root


@pytest.fixture(scope="session")
def context_for(
    sample: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """The template context of the sample with `changes` applied."""

    def _context(changes: Mapping[str, Any]) -> dict[str, Any]:
        config = tmp_path_factory.mktemp("cluster") / paths.CONFIG_NAME
        config.write_text(yaml.safe_dump(_with_changes(sample, changes)), encoding="utf-8")
        cluster = load_cluster(config).context()
        return build_context(cluster, _side(cluster), load_versions(paths.VERSIONS_FILE))

    return _context


@pytest.fixture(scope="session")
def render(
    kubernetes_templates: Path, context_for: Callable[[Mapping[str, Any]], dict[str, Any]]
) -> Render:
    """{path: bytes} of kubernetes/ for the sample with `changes` applied."""
    cache: dict[str, dict[str, bytes]] = {}

    def _render(changes: Mapping[str, Any]) -> dict[str, bytes]:
        key = repr(sorted(changes.items()))
        if key not in cache:
            tree = render_tree(context_for(changes), template_root=kubernetes_templates)
            cache[key] = tree.files
        return cache[key]

    return _render
