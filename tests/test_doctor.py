"""`clustergen doctor` through the CLI, with stub tools on PATH that print a version and
record their arguments (the real sops and task of the environment; no cluster needed).
The first test runs it as a child process; the others call `cli.main` in this process."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from generator.doctor import TOOLS, parse_version
from generator.doctor import doctor as run_doctor
from generator.paths import TEMPLATE_TREE, VERSIONS_FILE
from generator.render.context import load_versions
from tests.process import clustergen_in_process, run_clustergen

pytestmark = pytest.mark.slow  # seconds of work: scheduled first (tests/conftest.py)

VENV_BIN = Path(sys.executable).parent
VERSIONS = load_versions(VERSIONS_FILE)
TALOS = str(VERSIONS["talos"]["version"])  # e.g. v1.13.7
TALOS_MINOR = ".".join(TALOS.split(".")[:2])
K8S_MAJOR, K8S_MINOR = (int(x) for x in str(VERSIONS["kubernetes"]["version"])[1:].split(".")[:2])


@pytest.fixture
def stubs(tmp_path: Path) -> Path:
    directory = tmp_path / "bin"
    directory.mkdir()
    return directory


def stub(directory: Path, name: str, output: str) -> None:
    """`name` prints `output` and appends its arguments to `name`.args."""
    script = directory / name
    log = directory / f"{name}.args"
    script.write_text(f"#!/bin/sh\necho \"$*\" >> '{log}'\nprintf '%s\\n' '{output}'\n")
    script.chmod(0o755)


def doctor(
    root: Path, stubs: Path, *args: str, child: bool = False
) -> subprocess.CompletedProcess[str]:
    """`clustergen doctor`: a child process when `child` (the first test), else `cli.main`
    in this process (tests/process.py), the same code without a new interpreter."""
    # PATH: the stubs, then the environment's own bin (task; sops is found as clustergen
    # runs it). Nothing else, so a tool of this machine never stands in for a stub.
    env = {**os.environ, "PATH": f"{stubs}{os.pathsep}{VENV_BIN}"}
    env.pop("CLUSTERGEN_SOPS", None)
    run = run_clustergen if child else clustergen_in_process
    return run(["doctor", "--dir", str(root), *args], cwd=root, env=env)


def row(output: str, tool: str) -> list[str]:
    (line,) = [x.split() for x in output.splitlines() if x.split()[1:2] == [tool]]
    return line


def at_bootstrap_apps(root: Path, stubs: Path, *, yq: str, kubectl: str) -> None:
    """A rendered repository with a kubeconfig (the nodes are up), and the tools the apps'
    bootstrap runs: helm and helmfile as pinned, `yq` and `kubectl` printing these."""
    render_marker(root)
    (root / "kubeconfig").write_text("apiVersion: v1\n")
    tools = {"helm": "v3.19.0+g1234567", "helmfile": "helmfile version 1.1.7"}
    for name, output in {**tools, "yq": yq, "kubectl": kubectl}.items():
        stub(stubs, name, output)


def render_marker(root: Path, talos: str = TALOS) -> None:
    (root / "talos").mkdir()
    (root / "talos" / "talconfig.yaml").write_text("---\nclusterName: home\n")
    (root / "talos" / "talenv.yaml").write_text(
        f"---\ntalosVersion: {talos}\nkubernetesVersion: v{K8S_MAJOR}.{K8S_MINOR}.0\n"
    )


def test_a_fresh_clone_is_ready_to_configure(tmp_path: Path, stubs: Path) -> None:
    result = doctor(tmp_path, stubs, child=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("next step: configure")
    real_sops = subprocess.run(
        [str(VENV_BIN / "sops"), "--version", "--disable-version-check"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[1]
    assert row(result.stdout, "sops")[:3] == ["ok", "sops", real_sops]
    assert row(result.stdout, "task")[0] == "ok"
    assert row(result.stdout, "talhelper")[:3] == ["missing", "talhelper", "-"]
    assert "ok: every tool configure needs is installed" in result.stdout


def test_bootstrap_talos_needs_talhelper_and_talosctl(tmp_path: Path, stubs: Path) -> None:
    render_marker(tmp_path)
    result = doctor(tmp_path, stubs)
    assert result.returncode == 1
    assert result.stdout.startswith("next step: bootstrap:talos")
    assert row(result.stdout, "talosctl")[0] == "MISSING"
    assert "bootstrap:talos needs talhelper, talosctl" in result.stdout

    stub(stubs, "talhelper", f"talhelper version {VERSIONS['talhelper']['version']}")
    stub(stubs, "talosctl", f"Client:\n\tTalos {TALOS}")
    result = doctor(tmp_path, stubs)
    assert result.returncode == 0, result.stdout
    assert row(result.stdout, "talosctl")[:3] == ["ok", "talosctl", TALOS]
    assert "warning" not in result.stdout
    # Asked for its own version only: nothing that would reach a node.
    assert (stubs / "talosctl.args").read_text() == "version --client --short\n"


def test_a_version_other_than_the_pinned_one_warns(tmp_path: Path, stubs: Path) -> None:
    render_marker(tmp_path, talos="v1.99.0")  # the rendered talenv.yaml wins over versions.yaml
    stub(stubs, "talhelper", "talhelper version v3.0.1")
    stub(stubs, "talosctl", f"Client:\n\tTalos {TALOS}")
    result = doctor(tmp_path, stubs)
    assert result.returncode == 0  # a warning, not a failure
    assert (
        f"warning: talosctl {TALOS}, but the repository pins Talos v1.99.0 "
        "(talos/talenv.yaml); use talosctl 1.99"
    ) in result.stdout


def test_bootstrap_apps_and_kubectl_skew(tmp_path: Path, stubs: Path) -> None:
    at_bootstrap_apps(
        tmp_path,
        stubs,
        yq="yq (https://github.com/mikefarah/yq/) version v4.47.1",
        kubectl=f"Client Version: v{K8S_MAJOR}.{K8S_MINOR - 1}.2\nKustomize Version: v5.7.1",
    )
    result = doctor(tmp_path, stubs)
    assert result.returncode == 0, result.stdout
    assert result.stdout.startswith("next step: bootstrap:apps")
    assert row(result.stdout, "helmfile")[:3] == ["ok", "helmfile", "1.1.7"]
    assert "warning" not in result.stdout  # one minor release apart: within kubectl's skew

    stub(stubs, "kubectl", f"Client Version: v{K8S_MAJOR}.{K8S_MINOR - 2}.0")
    result = doctor(tmp_path, stubs)
    assert f"warning: kubectl v{K8S_MAJOR}.{K8S_MINOR - 2}.0, but the repository pins" in (
        result.stdout
    )

    result = doctor(tmp_path, stubs, "--step", "operate")
    assert result.returncode == 1
    # talhelper: `talos generate-config`, the first of a day-two change to talos/.
    assert "operate needs talhelper, talosctl, flux" in result.stdout


def test_the_python_yq_is_the_wrong_yq(tmp_path: Path, stubs: Path) -> None:
    """kislyuk's yq (pip's `yq`) has the name but not the syntax bootstrap-apps.sh uses: the
    script refuses it, so doctor does not call it ok."""
    at_bootstrap_apps(
        tmp_path, stubs, yq="yq 3.4.3", kubectl=f"Client Version: v{K8S_MAJOR}.{K8S_MINOR}.2"
    )
    result = doctor(tmp_path, stubs)
    assert result.returncode == 1, result.stdout
    assert row(result.stdout, "yq")[:2] == ["WRONG", "yq"]
    assert (
        f"warning: {stubs / 'yq'} is not the yq the steps run (mikefarah's; its `--version` "
        "says: yq 3.4.3): install from https://github.com/mikefarah/yq#install, first on PATH"
    ) in result.stdout
    assert "bootstrap:apps needs yq: install (or reinstall) from the address shown" in result.stdout
    stub(stubs, "yq", "yq (https://github.com/mikefarah/yq/) version v4.47.1")
    assert doctor(tmp_path, stubs).returncode == 0


@pytest.mark.parametrize("mode", ["direct", "none"])
def test_cloudflared_is_not_listed_without_a_tunnel(tmp_path: Path, stubs: Path, mode: str) -> None:
    (tmp_path / "cluster.yaml").write_text(f"---\ningress:\n  mode: {mode}\n")
    result = doctor(tmp_path, stubs)
    assert result.returncode == 0, result.stdout
    assert "cloudflared" not in result.stdout


def test_a_cloudflare_tunnel_needs_cloudflared_before_configure(
    tmp_path: Path, stubs: Path
) -> None:
    # ingress.mode's default with dns.provider cloudflare (its default) is cloudflare-tunnel.
    (tmp_path / "cluster.yaml").write_text("---\ndns:\n  provider: cloudflare\n")
    result = doctor(tmp_path, stubs)
    assert result.returncode == 1
    assert "configure needs cloudflared" in result.stdout
    stub(stubs, "cloudflared", "cloudflared version 2026.8.2 (built 2026-08-20)")
    result = doctor(tmp_path, stubs)
    assert result.returncode == 0, result.stdout
    assert row(result.stdout, "cloudflared")[:3] == ["ok", "cloudflared", "2026.8.2"]
    (tmp_path / "cloudflare-tunnel.json").write_text("{}")
    (stubs / "cloudflared").unlink()
    assert doctor(tmp_path, stubs).returncode == 0  # the credentials exist already


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("Client Version: v1.34.1\nKustomize Version: v5.7.1", ("v1.34.1", (1, 34))),
        ("sops 3.11.0 (latest)", ("3.11.0", (3, 11))),
        ("3.54.0+pypi", ("3.54.0+pypi", (3, 54))),
        ("flux: v2.7.3", ("v2.7.3", (2, 7))),
        ("no version here", None),
    ],
)
def test_parse_version(output: str, expected: tuple[str, tuple[int, int]] | None) -> None:
    assert parse_version(output) == expected


def test_bootstrap_apps_tools_are_what_its_script_checks() -> None:
    script = (TEMPLATE_TREE / "bootstrap" / "bootstrap-apps.sh").read_text()
    (checked,) = re.findall(r"^\s*for tool in ([a-z ]+); do$", script, flags=re.M)
    assert {t.name for t in TOOLS if "bootstrap:apps" in t.steps} == set(checked.split())
    # and tells the right yq the same way
    identities = re.findall(r"(\w+) --version 2>&1 \| grep -q '([^']+)'", script)
    assert identities == [(t.name, t.identity) for t in TOOLS if t.identity]


def test_operate_tools_are_what_the_day_two_commands_check() -> None:
    from generator.lifecycle import TOOLS as DAY_TWO_TOOLS

    checked = {name for names in DAY_TWO_TOOLS.values() for name in names}
    assert {t.name for t in TOOLS if "operate" in t.steps} == checked


def test_bootstrap_talos_tools_are_what_the_bootstrap_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from generator.errors import ClusterGenError
    from generator.talos import bootstrap

    render_marker(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    with pytest.raises(ClusterGenError) as caught:
        bootstrap(tmp_path)
    checked = str(caught.value).split(" not found on PATH")[0].split(" and ")
    # (sops is bundled: clustergen runs its own to encrypt the Talos secret)
    wanted = {t.name for t in TOOLS if "bootstrap:talos" in t.steps and not t.bundled}
    assert wanted == set(checked)


def test_a_tool_whose_version_command_fails_is_found_but_flagged(
    tmp_path: Path, stubs: Path
) -> None:
    render_marker(tmp_path)
    stub(stubs, "talhelper", "talhelper version v3.1.16")
    (stubs / "talosctl").write_text("#!/bin/sh\necho 'cannot reach the node' >&2\nexit 1\n")
    (stubs / "talosctl").chmod(0o755)
    result = doctor(tmp_path, stubs)
    assert result.returncode == 0, result.stdout
    assert row(result.stdout, "talosctl")[:3] == ["ok", "talosctl", "unknown"]
    assert "warning: `talosctl version --client --short` failed" in result.stdout


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"\x7fELF\x02\x01\x01garbage", "Exec format error (a download for another system"),
        (b"#!/nonexistent/interpreter\n", "the interpreter its first line (#!) names is not"),
    ],
)
def test_a_tool_that_cannot_be_run_at_all_is_broken_and_needed(
    tmp_path: Path, stubs: Path, content: bytes, why: str
) -> None:
    render_marker(tmp_path)
    stub(stubs, "talhelper", "talhelper version v3.1.16")
    (stubs / "talosctl").write_bytes(content)
    (stubs / "talosctl").chmod(0o755)
    (stubs / "flux").mkdir()  # a folder named like a tool is no tool
    result = doctor(tmp_path, stubs)
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert row(result.stdout, "talosctl")[:2] == ["BROKEN", "talosctl"]
    assert f"warning: {stubs / 'talosctl'} cannot be run: {why}" in result.stdout
    assert row(result.stdout, "flux")[:2] == ["missing", "flux"]
    assert "needs talosctl: install (or reinstall)" in result.stdout


def test_version_commands_that_hang_are_stopped_and_named(
    tmp_path: Path, stubs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    render_marker(tmp_path)
    for name in ("talhelper", "talosctl"):
        (stubs / name).write_text(f"#!/bin/sh\nexec {shutil.which('sleep')} 60\n")
        (stubs / name).chmod(0o755)
    stub(stubs, "yq", "\x1b[31m\x07 garbage, no version")
    # Without end: everything it printed before the timeout would be gigabytes in memory.
    (stubs / "helm").write_text(f"#!/bin/sh\nexec {shutil.which('yes')} v3.1.0 garbage\n")
    (stubs / "helm").chmod(0o755)
    # In this process with a short timeout: the CLI's 15 s would be this test's whole wait.
    # 1 s: the healthy stubs answer in milliseconds, each in its own thread, all at once.
    monkeypatch.setenv("PATH", f"{stubs}{os.pathsep}{VENV_BIN}")
    monkeypatch.delenv("CLUSTERGEN_SOPS", raising=False)
    result = run_doctor(tmp_path, timeout=1)
    assert result.status == 0, result.text
    for name in ("talhelper", "talosctl"):
        assert f"({name} did not finish within 1s); is {name} broken?" in result.text
    assert row(result.text, "yq")[:3] == ["wrong", "yq", "unknown"]  # not mikefarah's
    assert row(result.text, "helm")[:3] == ["ok", "helm", "v3.1.0"]
    assert "`helm version --short` printed without end (stopped after 65536 bytes)" in (result.text)
