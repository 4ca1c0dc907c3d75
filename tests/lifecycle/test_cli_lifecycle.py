"""Every day-two command through the CLI (as CI runs it: no terminal, CI=true), against the
stub tools: stdout, stderr, exit code and the commands run. Each command's first run in a
test process is a child process; its later runs call `cli.main` in this process (the same
code, without the ~0.15 s CPU of a new interpreter, tests/process.py)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lifecycle import expected
from tests.lifecycle.conftest import MakeRepo
from tests.lifecycle.repos import CLUSTER_SCHEMATIC, KUBERNETES_VERSION, TALOS_VERSION
from tests.lifecycle.stubs import StubTools
from tests.lifecycle.test_upgrade import running
from tests.process import clustergen_in_process, run_clustergen

SECUREBOOT = f"factory.talos.dev/metal-installer-secureboot/{CLUSTER_SCHEMATIC}:{TALOS_VERSION}"


# The commands (argv up to the first option or node name) run as a child process so far.
_RUN_AS_CHILD: set[tuple[str, ...]] = set()


def clustergen(repo: Path, *argv: str) -> tuple[int, str, str]:
    command = tuple(argv[:2]) if argv[0] == "talos" else tuple(argv[:1])
    run = clustergen_in_process if command in _RUN_AS_CHILD else run_clustergen
    _RUN_AS_CHILD.add(command)
    result = run([*argv, "--dir", str(repo)], cwd=repo)
    return result.returncode, result.stdout, result.stderr


def test_upgrade_node_dry_run_prints_the_node_image_and_version(
    tools: StubTools, make_repo: MakeRepo
) -> None:
    repo = make_repo("secureboot", live=False)
    code, out, err = clustergen(repo, "talos", "upgrade-node", "k8s-1", "--dry-run")
    assert (code, err) == (0, "")
    assert (
        f"talosctl upgrade {expected.TALOSCONFIG} --nodes 192.168.1.11 --image {SECUREBOOT} "
        "--timeout 600s"
    ) in out.splitlines()
    assert tools.calls() == []


def test_upgrade_node_refuses_an_unhealthy_cluster_until_forced(
    tools: StubTools, make_repo: MakeRepo
) -> None:
    repo = make_repo("secureboot")
    running(tools, repo)
    tools.set(health="failing")
    code, out, err = clustergen(repo, "talos", "upgrade-node", "k8s-1")
    assert (code, out) == (1, "")
    assert "\nerror: the cluster is not healthy, so clustergen will not upgrade k8s-1:\n" in err
    assert not any(" upgrade " in call for call in tools.calls())

    code, out, err = clustergen(repo, "talos", "upgrade-node", "k8s-1", "--force")
    assert code == 0, err
    assert out == f"k8s-1 (192.168.1.11): Talos v1.12.0 -> {TALOS_VERSION}, Ready\n"
    assert "skipping the health checks before k8s-1 (--force)" in err
    assert f"--image {SECUREBOOT}" in tools.calls()[-3]


def test_upgrade_node_all_and_a_name_are_exclusive(tools: StubTools, make_repo: MakeRepo) -> None:
    repo = make_repo("single", live=False)
    for argv in (["upgrade-node"], ["upgrade-node", "k8s-0", "--all"]):
        code, _, err = clustergen(repo, "talos", *argv, "--dry-run")
        assert (code, err) == (
            1,
            "error: upgrade-node takes one node name, or --all for every node\n",
        )
    code, out, _ = clustergen(repo, "talos", "upgrade-node", "--all", "--dry-run", "--force")
    assert code == 0 and out.count("talosctl upgrade ") == 1


def test_upgrade_k8s_dry_run_prints_the_pinned_version(
    tools: StubTools, make_repo: MakeRepo
) -> None:
    repo = make_repo("three-plus-two")
    code, out, _ = clustergen(repo, "talos", "upgrade-k8s", "--dry-run")
    assert code == 0
    assert out.splitlines()[-1] == (
        f"talosctl upgrade-k8s {expected.TALOSCONFIG} --nodes 192.168.1.10 "
        f"--to {KUBERNETES_VERSION}"
    )
    running(tools, repo)
    code, out, _ = clustergen(repo, "talos", "upgrade-k8s")
    assert (code, out) == (0, f"upgraded Kubernetes to {KUBERNETES_VERSION}\n")
    assert tools.calls()[-1].startswith("talosctl upgrade-k8s")


def test_generate_config_and_apply_node(tools: StubTools, make_repo: MakeRepo) -> None:
    repo = make_repo("own-schematic")
    code, out, err = clustergen(repo, "talos", "generate-config")
    assert (code, out) == (
        0,
        "generated talos/clusterconfig: 3 node config(s) and talosconfig\n",
    ), err
    assert tools.calls()[0].startswith("talhelper genconfig --config-file talos/talconfig.yaml")
    code, out, err = clustergen(repo, "talos", "apply-node", "k8s-2")
    assert code == 0, err
    assert tools.calls()[-1] == (
        f"talosctl apply-config {expected.TALOSCONFIG} --nodes 192.168.1.12 "
        "--file talos/clusterconfig/kubernetes-k8s-2.yaml --mode auto"
    )
    code, out, err = clustergen(repo, "talos", "apply-node", "k8s-2", "--insecure")
    assert code == 0, err
    assert tools.calls()[-1] == (
        "talosctl apply-config --insecure --nodes 192.168.1.12 "
        "--file talos/clusterconfig/kubernetes-k8s-2.yaml --mode auto"
    )
    code, out, err = clustergen(repo, "talos", "apply-node", "k8s-3")
    assert (code, out) == (1, "")
    assert err == (
        "error: no node named 'k8s-3' in cluster.yaml (did you mean 'k8s-0' or 'k8s-1' or "
        "'k8s-2'?); the nodes are: k8s-0, k8s-1, k8s-2\n"
    )


def test_reset_under_ci_needs_yes(tools: StubTools, make_repo: MakeRepo) -> None:
    repo = make_repo("three-plus-two")
    code, out, err = clustergen(repo, "talos", "reset", "w-1")
    assert (code, out) == (1, "")
    assert err.endswith("(or CI is set): rerun with --yes to confirm\n")
    assert tools.calls() == []
    code, out, err = clustergen(repo, "talos", "reset", "w-1", "--yes")
    assert (code, out) == (
        0,
        "reset w-1 (192.168.1.31): rebooting into maintenance mode\n"
        "to bring it back: uv run task talos:apply-node NODE=w-1 -- --insecure\n",
    ), err
    assert tools.calls() == [
        f"talosctl reset {expected.TALOSCONFIG} --nodes 192.168.1.31 --graceful=true --reboot "
        "--system-labels-to-wipe STATE --system-labels-to-wipe EPHEMERAL"
    ]


def test_reconcile(tools: StubTools, make_repo: MakeRepo) -> None:
    repo = make_repo("single")
    code, out_dry, err = clustergen(repo, "reconcile", "--dry-run")
    assert (code, err) == (0, "")
    assert out_dry == (
        "flux reconcile kustomization flux-system --namespace flux-system --with-source "
        "--kubeconfig kubeconfig\n"
    )
    code, out, err = clustergen(repo, "reconcile")
    assert code == 0 and "applied revision" in out, err
    assert tools.calls() == [out_dry.strip()]


@pytest.mark.parametrize("tool", ["talosctl", "flux"])
def test_a_missing_tool_is_exit_1_with_where_to_get_it(
    tools: StubTools, make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch, tool: str
) -> None:
    repo = make_repo("single")
    (tools.bin / tool).unlink()
    monkeypatch.setenv("PATH", str(tools.bin))
    argv = ["reconcile"] if tool == "flux" else ["talos", "apply-node", "k8s-0"]
    code, out, err = clustergen(repo, *argv)
    assert (code, out) == (1, "")
    assert err.startswith(f"error: cannot start; missing:\n- {tool} is not on PATH: install it (")


@pytest.mark.parametrize(("typed", "code"), [("w-1\n", 0), ("w-0\n", 1), ("", 1)])
def test_reset_on_a_terminal_asks_for_the_name(
    tools: StubTools, make_repo: MakeRepo, typed: str, code: int
) -> None:
    repo = make_repo("three-plus-two")
    controller, terminal = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    with os.fdopen(controller, "wb", buffering=0) as keyboard:
        process = subprocess.Popen(
            [sys.executable, "-m", "generator", "talos", "reset", "w-1", "--dir", str(repo)],
            stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        )  # fmt: skip
        os.close(terminal)
        keyboard.write(typed.encode() if typed else b"\x04")  # Ctrl-D: end of input
        out, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    assert out.decode().startswith(
        "This wipes STATE and EPHEMERAL of w-1 (192.168.1.31) and reboots into maintenance "
        "mode.\nType w-1 to confirm: "
    )
    assert len(tools.calls()) == (1 if code == 0 else 0)


@pytest.mark.parametrize(
    ("variable", "value", "argv", "missing"),
    [
        ("TALOSCONFIG", "nowhere/talosconfig", ["talos", "reset", "w-1", "--yes"],
         "- nowhere/talosconfig (TALOSCONFIG) is missing: TALOSCONFIG is set in your "
         "environment; point it at an existing file, or unset it to use "
         "./talos/clusterconfig/talosconfig"),
        ("KUBECONFIG", "/nonexistent/kubeconfig", ["reconcile"],
         "- /nonexistent/kubeconfig (KUBECONFIG) is missing: KUBECONFIG is set in your "
         "environment; point it at an existing file, or unset it to use ./kubeconfig"),
        ("KUBECONFIG", f"/nonexistent/a{os.pathsep}/nonexistent/b", ["reconcile"],
         f"- every file of /nonexistent/a{os.pathsep}/nonexistent/b (KUBECONFIG) is missing: "
         "KUBECONFIG is set"),
    ],
)  # fmt: skip
def test_a_file_the_environment_names_but_lacks_says_which_variable_to_fix(
    tools: StubTools,
    make_repo: MakeRepo,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    argv: list[str],
    missing: str,
) -> None:
    repo = make_repo("three-plus-two")
    monkeypatch.setenv(variable, value)
    code, out, err = clustergen(repo, *argv)
    assert (code, out) == (1, "")
    assert missing.format(repo=repo.resolve()) in err, err
    assert "generate-config` writes it" not in err and "fetches it" not in err
    assert tools.calls() == []


def test_a_kubeconfig_list_with_one_existing_file_is_enough(
    tools: StubTools, make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo("single")
    monkeypatch.setenv("KUBECONFIG", f"/nonexistent/a{os.pathsep}{repo / 'kubeconfig'}")
    code, out, err = clustergen(repo, "reconcile")
    assert code == 0 and "applied revision" in out, err


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('ipAddress: "192.168.1.31"', 'ipAddress: "192.168.1.31,192.168.1.10"',
         "node 'w-1' ipAddress is '192.168.1.31,192.168.1.10', which configure never renders"),
        ('ipAddress: "192.168.1.31"', 'ipAddress: "--insecure"',
         "node 'w-1' ipAddress is '--insecure'"),
        ('hostname: "w-1"', 'hostname: "../../w-1"', "a node's hostname is '../../w-1'"),
        ('talosImageURL: "factory', 'talosImageURL: "--force factory',
         "node 'w-1' talosImageURL is '--force factory"),
    ],
)  # fmt: skip
def test_a_hand_edited_talconfig_reaches_no_command(
    tools: StubTools, make_repo: MakeRepo, old: str, new: str, message: str
) -> None:
    repo = make_repo("three-plus-two")
    (repo / "cluster.yaml").unlink()  # a clone without it: talconfig.yaml is all there is
    talconfig = repo / "talos/talconfig.yaml"
    text = talconfig.read_text()
    at = text.index('hostname: "w-1"')
    before, after = text[:at], text[at:]
    talconfig.write_text(before + after.replace(old, new, 1))
    for argv in (["talos", "reset", "w-0", "--yes"], ["talos", "upgrade-node", "--all"]):
        code, out, err = clustergen(repo, *argv)
        assert (code, out) == (1, ""), err
        assert f"error: talos/talconfig.yaml: {message}" in err
        assert "run `uv run task configure` first" in err
    assert tools.calls() == []


def test_a_hand_edited_talenv_version_reaches_no_command(
    tools: StubTools, make_repo: MakeRepo
) -> None:
    repo = make_repo("single")
    talenv = repo / "talos/talenv.yaml"
    talenv.write_text(talenv.read_text().replace(TALOS_VERSION, f"{TALOS_VERSION} --force"))
    code, out, err = clustergen(repo, "talos", "upgrade-node", "k8s-0")
    assert (code, out) == (1, "")
    assert f"talos/talenv.yaml: talosVersion is '{TALOS_VERSION} --force', not a version" in err
    assert tools.calls() == []


def test_a_tool_that_cannot_be_run_is_a_named_error_not_an_internal_one(
    tools: StubTools, make_repo: MakeRepo
) -> None:
    repo = make_repo("single")
    (tools.bin / "talosctl").write_bytes(b"\x7fELF\x02\x01\x01 for another machine")
    code, out, err = clustergen(repo, "talos", "upgrade-k8s")
    assert (code, out) == (1, "")
    assert "internal error" not in err and "Traceback" not in err
    assert "talosctl cannot be run: Exec format error (a download for another system" in err
