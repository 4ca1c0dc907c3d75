"""Golden files of the rendered repository's CI (.github/ and .renovaterc.json5) per flag.

Whole trees cover every flag on (`sample`) and security_scan / sbom / renovate off
(`ci-partly-off`); these snapshots hold only the CI files, for the other flags off and for
the render-diff variant that asks for every key file (ssh repository, Cloudflare tunnel).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import GOLDEN_SIDE
from tests.golden.snapshot import GoldenSnapshots
from tests.rendering import render_config, sample_with, shared_templates, write_config

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


def ci_files(tree: Mapping[str, bytes]) -> dict[str, bytes]:
    """The CI files of a whole tree: what the CI templates render."""
    return {p: c for p, c in tree.items() if p.startswith(".github/") or p == ".renovaterc.json5"}


@pytest.fixture(scope="module")
def ci_templates() -> Path:
    return shared_templates((".github", ".renovaterc.json5.j2"))


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_ci_files(
    name: str,
    ci_templates: Path,
    tmp_path: Path,
    assert_golden: GoldenSnapshots,
) -> None:
    config = write_config(sample_with(SCENARIOS[name]), tmp_path)
    files = render_config(config, GOLDEN_SIDE, template_root=ci_templates).files
    assert files, "every CI flag off: nothing to snapshot"
    assert ci_files(files) == files, "the CI templates render outside ci_files()"
    assert_golden(files, name, within=ci_files)
