"""Stub talosctl, talhelper, kubectl and flux on PATH: each records its command line and
answers like the real tool would for a cluster in the state the test sets.

    tools = StubTools.install(tmp_path, monkeypatch)
    tools.set(health="failing", versions={"192.168.1.10": "v1.13.6"})
    ... run a command ...
    assert tools.calls() == ["talosctl version --talosconfig … --nodes 192.168.1.10", …]

State lives in one file the stubs read and update: `talosctl upgrade --image X:TAG`
makes that node report TAG afterwards, as a node that rebooted into it would. The file holds
a Python literal (repr), not JSON: a stub starts a few hundred times a run, and importing
json (with re and enum) or shlex was two thirds of each start.
"""

from __future__ import annotations

import ast
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# -S: a stub needs only the standard library; without site-packages (and the .pth hooks
# there) each of the few hundred calls starts ~15 ms sooner. Only os and sys (loaded at
# start anyway): `quote` is shlex.quote's rule, the state a literal (see above).
STUB = """#!{python} -S
import os, sys

tool = os.path.basename(sys.argv[0])
args = sys.argv[1:]
state_file = os.environ["STUB_STATE"]


def read(path):
    with open(path, encoding="utf-8") as file:
        return file.read()


def write(path, text):
    with open(path, "w", encoding="utf-8") as file:
        file.write(text)


def quote(arg):
    safe = arg and all(c.isascii() and (c.isalnum() or c in "@%+=:,./-_") for c in arg)
    return arg if safe else "'" + arg.replace("'", "'" + '"' + "'" + '"' + "'") + "'"


state = eval(read(state_file), {{"__builtins__": {{}}}})
with open(os.environ["STUB_LOG"], "a") as log:
    log.write(" ".join(quote(a) for a in [tool, *args]) + "\\n")


def flag(name):
    return args[args.index(name) + 1] if name in args else None


def fail(message, code=1):
    sys.stderr.write(message + "\\n")
    sys.exit(code)


if tool == "talosctl":
    command = args[0]
    if command == "health":
        if state["health"] != "ok":
            fail("waiting for all k8s nodes to report ready: some nodes are not ready")
        print("waiting for etcd to be healthy: OK")
    elif command == "etcd":
        print("NODE         ID     HOSTNAME   PEER URLS        CLIENT URLS      LEARNER")
        for name, learner in state["etcd"].items():
            print(f"10.0.0.1 1d6b {{name}} https://x:2380 https://x:2379 {{str(learner).lower()}}")
    elif command == "version":
        node = flag("--nodes")
        print("Client:\\n\\tTag:         v9.9.9\\nServer:")
        tag = state["versions"].get(node, "v0.0.0")
        print(f"\\tNODE:        {{node}}\\n\\tTag:         {{tag}}")
    elif command == "upgrade":
        if flag("--nodes") in state.get("upgrade_fails", []):
            fail("rpc error: code = Unavailable")
        state["versions"][flag("--nodes")] = flag("--image").rsplit(":", 1)[1]
        write(state_file, repr(state))
elif tool == "kubectl":
    if args[:2] == ["get", "nodes"]:
        # JSON by hand (node names are plain words): see the module's docstring.
        items = [
            '{{"metadata": {{"name": "%s"}}, '
            '"status": {{"conditions": [{{"type": "Ready", "status": "%s"}}]}}}}' % (name, ready)
            for name, ready in state["ready"].items()
        ]
        print('{{"items": [%s]}}' % ", ".join(items))
    elif args[0] == "wait" and state.get("never_ready"):
        fail("error: timed out waiting for the condition on nodes/x")
    elif args[0] == "wait" and state.get("api_down", 0) > 0:
        state["api_down"] -= 1
        write(state_file, repr(state))
        fail("The connection to the server 192.168.1.10:6443 was refused")
elif tool == "talhelper":
    out = flag("--out-dir") or "clusterconfig"
    os.makedirs(out, exist_ok=True)
    write(os.path.join(out, "talosconfig"), "context: kubernetes\\n")
elif tool == "flux":
    print("► annotating GitRepository flux-system in flux-system namespace")
    print("✔ applied revision refs/heads/main@sha1:0123abc")
"""

TOOLS = ("talosctl", "talhelper", "kubectl", "flux")


@dataclass(frozen=True)
class StubTools:
    """The stub directory; `log` holds one shell-quoted command line per call."""

    bin: Path
    log: Path
    state: Path

    @classmethod
    def install(
        cls, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tools: Sequence[str] = TOOLS
    ) -> StubTools:
        """Write the stubs into tmp_path/bin, put it first on PATH (the test's and its
        child processes') and start a healthy cluster of every node named in state."""
        stubs = cls(tmp_path / "bin", tmp_path / "calls.log", tmp_path / "cluster.state")
        stubs.bin.mkdir()
        for tool in tools:
            script = stubs.bin / tool
            script.write_text(STUB.format(python=sys.executable))
            script.chmod(0o755)
        stubs.log.write_text("")
        monkeypatch.setenv("PATH", f"{stubs.bin}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.setenv("STUB_LOG", str(stubs.log))
        monkeypatch.setenv("STUB_STATE", str(stubs.state))
        for variable in ("KUBECONFIG", "TALOSCONFIG", "SOPS_AGE_KEY_FILE", "CI"):
            monkeypatch.delenv(variable, raising=False)
        stubs.state.write_text(repr({"health": "ok", "etcd": {}, "versions": {}, "ready": {}}))
        return stubs

    def healthy_cluster(self, nodes: Mapping[str, str], controllers: Sequence[str],
                        version: str) -> None:  # fmt: skip
        """Every node (`{name: address}`) Ready at `version`, every controller in etcd."""
        self.set(
            health="ok",
            etcd={name: False for name in controllers},
            versions={address: version for address in nodes.values()},
            ready={name: True for name in nodes},
        )

    def set(self, **changes: Any) -> None:
        state = ast.literal_eval(self.state.read_text())
        state.update(changes)
        self.state.write_text(repr(state))

    def get(self, key: str) -> Any:
        return ast.literal_eval(self.state.read_text())[key]

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines()
