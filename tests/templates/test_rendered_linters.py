"""The whole rendered tree passes the ecosystem's linters: yamllint with the rendered
`.yamllint.yaml`, shellcheck on every script, actionlint (with shellcheck) on the workflows.

yamllint runs through its own command line in this process (tests/linters.py), the
others as the executables; the fresh clone's pre-commit run starts yamllint as a process.
Two trees, each rendered once per session: the sample and the all-features fixture
(tests/config/fixtures/valid/all-features.yaml). Secrets are written as rendered
(plaintext, fake values): the rendered yamllint config skips `*.sops.*`, because sops
writes those files, so their plaintext is linted on its own with the same rules.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from generator.secrets.files import is_secret_path
from tests.linters import lint, tool, yamllint
from tests.rendering import render_config, sample_with, write_config

ALL_FEATURES = Path(__file__).parents[1] / "config/fixtures/valid/all-features.yaml"
TREES = ("sample", "all-features")


def _config(name: str) -> dict[str, object]:
    if name == "sample":
        return sample_with({})
    data = yaml.safe_load(ALL_FEATURES.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="session", params=TREES)
def tree(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The rendered tree on disk (its root), one per TREES entry."""
    name: str = request.param
    config = write_config(_config(name), tmp_path_factory.mktemp(f"{name}-config"))
    root = tmp_path_factory.mktemp(f"{name}-tree")
    for path, content in render_config(config).files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return root


def test_yamllint_finds_the_rendered_config_and_lints_every_area(tree: Path) -> None:
    listed = yamllint(["--list-files", "."], tree)
    assert listed.returncode == 0, listed.stderr
    files = {Path(line).as_posix().removeprefix("./") for line in listed.stdout.split()}
    for area in ("kubernetes/", "bootstrap/", "talos/patches/", ".github/workflows/"):
        assert any(f.startswith(area) for f in files), area
    assert {"talos/talconfig.yaml", ".sops.yaml", ".yamllint.yaml"} <= files
    assert not [f for f in files if is_secret_path(f)]


def test_yamllint_strict(tree: Path) -> None:
    # No -c: yamllint picks up the rendered .yamllint.yaml, as it does in the user's clone.
    result = yamllint(["--strict", "-f", "parsable", "."], tree)
    assert result.returncode == 0 and not result.stdout, result.stdout + result.stderr


def test_yamllint_strict_on_secret_plaintext(tree: Path) -> None:
    rules = yaml.safe_load((tree / ".yamllint.yaml").read_text(encoding="utf-8"))
    del rules["ignore"]
    secrets = sorted(str(p.relative_to(tree)) for p in tree.rglob("*.sops.yaml"))
    assert secrets
    result = yamllint(["--strict", "-f", "parsable", "-d", yaml.safe_dump(rules), *secrets], tree)
    assert result.returncode == 0 and not result.stdout, result.stdout + result.stderr


def test_shellcheck_every_script(tree: Path) -> None:
    scripts = sorted(str(p.relative_to(tree)) for p in tree.rglob("*.sh"))
    assert "bootstrap/bootstrap-apps.sh" in scripts
    result = lint([tool("shellcheck"), *scripts], tree)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_workflows(tree: Path) -> None:
    workflows = sorted(str(p.relative_to(tree)) for p in (tree / ".github/workflows").iterdir())
    assert workflows
    shellcheck = f"-shellcheck={tool('shellcheck')}"
    result = lint([tool("actionlint"), shellcheck, "-pyflakes=", *workflows], tree)
    assert result.returncode == 0, result.stdout + result.stderr


def test_yamllint_skips_what_is_not_the_cluster(tree: Path, tmp_path: Path) -> None:
    # Users clone clustergen and render into the clone: its own files (test fixtures that
    # are broken on purpose), their cluster.yaml and talhelper's output are not linted.
    (tmp_path / ".yamllint.yaml").write_bytes((tree / ".yamllint.yaml").read_bytes())
    ignored = (
        "cluster.yaml", "cluster.sample.yaml", "Taskfile.yaml", "templates/versions.yaml",
        "tests/fixtures/bad.yaml", "bench/x.yaml", "schemas/x.yaml", "generator/x.yaml",
        "talos/clusterconfig/home-k8s-0.yaml", "kubernetes/apps/x/secret.sops.yaml",
        ".github/e2e/variants/x.yaml",
    )  # fmt: skip
    for path in (*ignored, "kubernetes/apps/x/bad.yaml"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("a: {b:  c}\n")  # no `---`, braces: two findings each
    result = yamllint(["--strict", "-f", "parsable", "."], tmp_path)
    reported = {line.split(":", 1)[0].removeprefix("./") for line in result.stdout.splitlines()}
    assert reported == {"kubernetes/apps/x/bad.yaml"}, result.stdout


def test_yamllint_passes_the_template_repository_it_is_rendered_into(tree: Path) -> None:
    # The rendered config lands in a clone of this repository: with it, yamllint over the
    # clone's own tracked files (the e2e variants, workflows, fixtures) reports nothing.
    root = Path(__file__).resolve().parents[2]
    config = str(tree / ".yamllint.yaml")
    result = yamllint(["--strict", "-f", "parsable", "-c", config, "."], root)
    assert result.returncode == 0, result.stdout + result.stderr
