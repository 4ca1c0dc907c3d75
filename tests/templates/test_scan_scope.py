"""Every scan the rendered repository runs over its whole tree skips the generator.

Users render into a clone of clustergen, so the repository also holds clustergen's code,
templates and tests (fixtures broken or plaintext on purpose, rendered copies of
kubernetes/). The scans configured for the whole tree are pre-commit (top-level
`exclude`), yamllint (`.yamllint.yaml` `ignore:`), Trivy's filesystem scan (`skip-dirs`,
`skip-files`) and Renovate (`ignorePaths`); each must skip every file this repository
tracks below the root (all of it the generator's: it commits no rendered output) and
still cover the cluster. Scans scoped to cluster directories by construction (Trivy's
config scan of kubernetes/, flate, `clustergen validate|sbom|secrets`) need nothing.
"""

from __future__ import annotations

import json
import re
import subprocess
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
import yaml
from yamllint.config import YamlLintConfig

from tests.rendering import render_sample

ROOT = Path(__file__).resolve().parents[2]
SECURITY_SCAN = ".github/workflows/security-scan.yaml"
# The cluster's own files: each scan must still look at these.
CLUSTER_PATHS = (
    "kubernetes/apps/default/echo/app/helmrelease.yaml",
    "kubernetes/apps/default/echo/app/secret.sops.yaml",
    "talos/talconfig.yaml",
    "bootstrap/bootstrap-apps.sh",
    "scripts/check-unencrypted-secrets.sh",
    ".github/workflows/validate.yaml",
    "overrides/kubernetes/apps/default/echo/app/helmrelease.yaml",
    ".sops.yaml",
)


def _generator_files() -> list[str]:
    """What this repository tracks below its root (the root's files, README.md,
    Taskfile.yaml, pyproject.toml, ..., are shared with the rendered repository), and
    an override template."""
    listed = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    # overrides/ is the user's (only its .j2 templates are skipped), whatever it ships with.
    ours = [p for p in listed if "/" in p and not p.startswith("overrides/")]
    return [
        *sorted(ours),
        "cluster.sample.yaml",
        "overrides/kubernetes/apps/default/echo/app/helmrelease.yaml.j2",
    ]


@pytest.fixture(scope="module")
def generator_files() -> list[str]:
    files = _generator_files()
    assert any(p.startswith("tests/golden/") for p in files)
    return files


@pytest.fixture(scope="module")
def tree() -> dict[str, str]:
    return {path: data.decode() for path, data in render_sample({}).items()}


def _check(skipped: Any, generator_files: list[str]) -> None:
    missed = [p for p in generator_files if not skipped(p)]
    assert not missed, f"scanned although the generator's: {missed[:10]}"
    scanned = [p for p in CLUSTER_PATHS if not skipped(p)]
    assert scanned == list(CLUSTER_PATHS)


def test_pre_commit_excludes_the_generator(
    tree: dict[str, str], generator_files: list[str]
) -> None:
    exclude = re.compile(yaml.safe_load(tree[".pre-commit-config.yaml"])["exclude"])
    _check(lambda p: exclude.search(p) is not None, generator_files)


def test_yamllint_ignores_the_generator(tree: dict[str, str], generator_files: list[str]) -> None:
    config = YamlLintConfig(tree[".yamllint.yaml"])
    yaml_files = [p for p in generator_files if p.endswith((".yaml", ".yml"))]
    assert yaml_files
    assert not [p for p in yaml_files if not config.is_file_ignored(p)]
    # *.sops.* are sops' files, ignored wherever they are.
    cluster = [p for p in CLUSTER_PATHS if p.endswith(".yaml") and ".sops." not in p[1:]]
    assert [p for p in cluster if config.is_file_ignored(p)] == []


def test_trivy_filesystem_scan_skips_the_generator(
    tree: dict[str, str], generator_files: list[str]
) -> None:
    steps = [
        step
        for job in yaml.safe_load(tree[SECURITY_SCAN])["jobs"].values()
        for step in job["steps"]
        if step.get("with", {}).get("scan-ref") == "."
    ]
    (scan,) = steps
    dirs = scan["with"]["skip-dirs"].split(",")
    files = scan["with"]["skip-files"].split(",")

    def skipped(path: str) -> bool:
        # Trivy matches both against the path from the scan root, globs allowed.
        in_dir = any(path.startswith(f"{d}/") or fnmatch(path, f"{d}/**") for d in dirs)
        return in_dir or any(fnmatch(path, pattern) for pattern in files)

    _check(skipped, generator_files)


def _minimatch(pattern: str) -> re.Pattern[str]:
    """Renovate's ignorePaths globs (minimatch): `**/` any leading dirs, `/**` anything below."""
    out = re.escape(pattern)
    out = out.replace(r"\*\*/", "(?:.*/)?").replace(r"/\*\*", "(?:/.*)?").replace(r"\*", "[^/]*")
    return re.compile(f"^{out}$")


def test_renovate_ignores_the_generator_but_reads_the_versions_file(
    tree: dict[str, str], generator_files: list[str]
) -> None:
    text = "\n".join(
        line for line in tree[".renovaterc.json5"].splitlines() if not line.strip().startswith("//")
    )
    patterns = [_minimatch(p) for p in json.loads(text)["ignorePaths"]]

    def skipped(path: str) -> bool:
        return any(p.match(path) for p in patterns)

    # templates/versions.yaml is the one source of every pinned version: Renovate bumps it.
    generator = [p for p in generator_files if p != "templates/versions.yaml"]
    _check(skipped, generator)
    assert not skipped("templates/versions.yaml")


def test_the_renovate_hook_goes_with_renovate() -> None:
    for renovate in (True, False):
        files = render_sample({"features.ci.renovate": renovate})
        hooks = [
            hook["id"]
            for repo in yaml.safe_load(files[".pre-commit-config.yaml"])["repos"]
            for hook in repo["hooks"]
        ]
        assert ("renovate-config" in hooks) is renovate is (".renovaterc.json5" in files)
        assert ("check-jsonschema" in files[".pre-commit-config.yaml"].decode()) is renovate
