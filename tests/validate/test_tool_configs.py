"""talos/ and .github/: read by the tree validator, parsed, and checked against their schemas."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.validate import read_tree
from generator.validate.documents import Finding, parse_tree
from generator.validate.schemas import SchemaStore
from generator.validate.tool_configs import check_tool_configs
from tests.validate.conftest import Decrypt, Tree, run

WORKFLOW = """\
---
name: ci
on:
  push:
    branches: [main]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - run: echo ok
"""
TALCONFIG = """\
---
clusterName: home
kubernetesVersion: v1.34.1
endpoint: "https://192.168.1.20:6443"
nodes:
  - hostname: k8s-0
    ipAddress: 192.168.1.10
    installDisk: /dev/sda
    controlPlane: true
"""
PATCH = "---\nmachine:\n  time:\n    disabled: false\n"
GOOD = {
    ".github/workflows/ci.yaml": WORKFLOW,
    "talos/talconfig.yaml": TALCONFIG,
    "talos/patches/global/machine-time.yaml": PATCH,
}


def findings(files: dict[str, str]) -> list[str]:
    docs, parse_findings = parse_tree({path: text.encode() for path, text in files.items()})
    unparsable = {f.path for f in parse_findings}
    return [str(f) for f in [*parse_findings, *check_tool_configs(docs, unparsable)]]


def test_good_files_pass() -> None:
    assert findings(GOOD) == []


@pytest.mark.parametrize(
    ("path", "old", "new", "message"),
    [
        (".github/workflows/ci.yaml", "jobs:", "job:", "not a valid GitHub workflow"),
        (".github/workflows/ci.yaml", "runs-on: ubuntu-latest", "runs-on: [", "invalid YAML"),
        ("talos/talconfig.yaml", "clusterName: home\n", "", "'clusterName' is a required"),
        ("talos/talconfig.yaml", "installDisk:", "installDsk:", "'installDsk' was unexpected"),
        ("talos/talconfig.yaml", "ipAddress: 192.168.1.10", "ipAddress: [1]", "nodes.0.ipAddress"),
        ("talos/talconfig.yaml", 'endpoint: "h', 'endpoint: "\\q', "invalid YAML"),
        ("talos/patches/global/machine-time.yaml", "machine:", "- machine:", ""),
        ("talos/patches/global/machine-time.yaml", PATCH, "just text\n", "a Talos patch is"),
    ],
)
def test_each_fault_is_named(path: str, old: str, new: str, message: str) -> None:
    files = dict(GOOD)
    assert old in files[path]
    files[path] = files[path].replace(old, new, 1)
    found = findings(files)
    if not message:  # a list is a JSON patch: allowed
        assert found == []
        return
    assert found and all(f.startswith(path) for f in found), found
    assert any(message in f for f in found), found


def test_workflow_on_key_is_read_as_yaml_1_2() -> None:
    # PyYAML reads `on:` as the boolean true; the schema requires the key "on".
    assert findings({".github/workflows/ci.yaml": WORKFLOW}) == []


def test_read_tree_picks_what_clustergen_renders_for_tools(tmp_path: Path) -> None:
    for path in (
        ".github/workflows/ci.yaml",
        "talos/talconfig.yaml",
        "talos/talenv.yaml",
        "talos/patches/global/a.yaml",
        "talos/talsecret.sops.yaml",
        ".sops.yaml",
        ".yamllint.yaml",
        # Not read: talhelper's output (plaintext machine configs) and the user's input.
        "talos/clusterconfig/home-k8s-0.yaml",
        "cluster.yaml",
        "Taskfile.yaml",
        "tests/fixtures/broken.yaml",
    ):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("---\n")
    assert sorted(read_tree(tmp_path)) == [
        ".github/workflows/ci.yaml",
        ".sops.yaml",
        ".yamllint.yaml",
        "talos/patches/global/a.yaml",
        "talos/talconfig.yaml",
        "talos/talenv.yaml",
        "talos/talsecret.sops.yaml",
    ]


def test_validate_tree_reports_a_broken_workflow(
    clean_tree: Tree, store: SchemaStore, decrypt: Decrypt
) -> None:
    clean_tree[".github/workflows/ci.yaml"] = WORKFLOW.replace("jobs:", "job:").encode()
    found: list[Finding] = run(clean_tree, store, decrypt)
    assert found and {(f.path, f.severity) for f in found} == {
        (".github/workflows/ci.yaml", "error")
    }
