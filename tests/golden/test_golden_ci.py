"""Golden files of the rendered repository's CI (.github/ and .renovaterc.json5) per flag.

Whole trees cover every flag on (`sample`) and security_scan / sbom / renovate off
(`ci-partly-off`); these snapshots hold only the CI files, for the other flags off and for
the render-diff variant that asks for every key file (ssh repository, Cloudflare tunnel).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import paths
from generator.config import load_cluster
from generator.render.context import build_context, load_versions
from generator.render.tree import render_tree
from generator.sidefiles import SideFiles

FAKE = "golden-fake-not-a-secret"
SIDE = SideFiles(
    age_public_key="age1goldengoldengoldengoldengoldengoldengoldengoldengoldenqqqqqq",
    age_private_key="AGE-SECRET-KEY-1GOLDEN-FAKE-NOT-A-KEY",
    webhook_token="0123456789abcdef0123456789abcdef",
    deploy_key=FAKE,
    deploy_key_pub=FAKE,
    tunnel_id=FAKE,
    tunnel_account=FAKE,
    tunnel_secret=FAKE,
    tunnel_token=FAKE,
)

SCENARIOS: dict[str, dict[str, Any]] = {
    "ci-validate-render-diff-off": {
        "features.ci.validate": False,
        "features.ci.render_diff": False,
    },
    "ci-ssh-tunnel": {
        "repository.url": "ssh://git@github.com/example/home-ops",
        "ingress.mode": "cloudflare-tunnel",
    },
}


@pytest.fixture(scope="module")
def ci_templates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ci-golden") / "config"
    shutil.copytree(paths.TEMPLATE_TREE / ".github", root / ".github")
    shutil.copy(paths.TEMPLATE_TREE / ".renovaterc.json5.j2", root)
    return root


def _config(changes: Mapping[str, Any], directory: Path) -> Path:
    data = yaml.safe_load(paths.SAMPLE_CONFIG.read_text(encoding="utf-8"))
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        node = data
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    config = directory / paths.CONFIG_NAME
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return config


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_ci_files(
    name: str,
    ci_templates: Path,
    tmp_path: Path,
    assert_golden: Callable[[Mapping[str, bytes], str], None],
) -> None:
    cluster = load_cluster(_config(SCENARIOS[name], tmp_path)).context()
    context = build_context(cluster, SIDE, load_versions(paths.VERSIONS_FILE))
    files = render_tree(context, template_root=ci_templates).files
    assert files, "every CI flag off: nothing to snapshot"
    assert_golden(files, name)
