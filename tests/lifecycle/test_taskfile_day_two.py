"""The day-two tasks with the real `task` binary: each passes its node and arguments to
clustergen, with the repository's kubeconfig, talosconfig and age key in the environment."""

from __future__ import annotations

import shutil

import pytest

from tests.lifecycle import expected
from tests.lifecycle.conftest import MakeRepo
from tests.lifecycle.repos import KUBERNETES_VERSION
from tests.lifecycle.stubs import StubTools
from tests.test_taskfile import BIN, TASKFILE, task


@pytest.fixture(autouse=True)
def _task_binary() -> None:
    if not (BIN / "task").exists():
        pytest.skip("the task binary (go-task-bin) is not installed")


@pytest.mark.parametrize(
    ("args", "last_line"),
    [
        (["talos:generate-config"], "talhelper genconfig --config-file talos/talconfig.yaml"),
        (["talos:apply-node", "NODE=w-0"], "talosctl apply-config"),
        (["talos:apply-node", "NODE=w-0", "--", "--insecure"], "talosctl apply-config --insecure"),
        (["talos:upgrade-node", "NODE=w-0"], "talosctl version"),
        (["talos:upgrade-nodes", "--", "--force"], "talosctl version"),
        (["talos:upgrade-k8s"],
         f"talosctl upgrade-k8s {expected.TALOSCONFIG} --nodes 192.168.1.10 "
         f"--to {KUBERNETES_VERSION}"),
        (["talos:reset", "NODE=w-0"], "talosctl reset"),
        (["talos:reset"], "talosctl reset"),
        (["reconcile"], "flux reconcile kustomization flux-system"),
    ],
)  # fmt: skip
def test_each_task_runs_its_clustergen_command(
    tools: StubTools, make_repo: MakeRepo, args: list[str], last_line: str
) -> None:
    repo = make_repo("three-plus-two", live=False)
    shutil.copy(TASKFILE, repo / "Taskfile.yaml")
    dry = [*args, "--", "--dry-run"] if "--" not in args else [*args, "--dry-run"]
    result = task(repo, *dry)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith(last_line)
    assert "note:" not in result.stderr  # the Taskfile's paths are the repository's own
    assert tools.calls() == []


def test_the_node_is_required_and_passed_as_one_argument(
    tools: StubTools, make_repo: MakeRepo
) -> None:
    repo = make_repo("three-plus-two", live=False)
    shutil.copy(TASKFILE, repo / "Taskfile.yaml")
    result = task(repo, "talos:upgrade-node")
    assert result.returncode != 0
    assert "missing required variables: NODE" in result.stderr
    result = task(repo, "talos:apply-node", "NODE=w 0; true", "--", "--dry-run")
    assert result.returncode != 0  # (task's own code for a failed command)
    assert "no node named 'w 0; true' in cluster.yaml" in result.stderr
