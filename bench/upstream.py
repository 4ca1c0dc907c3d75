"""The anchor of issue 19: the upstream template's own configure core, no validation.

onedr0p/cluster-template at UPSTREAM_COMMIT (the last revision whose `task configure`
reads cluster.yaml + nodes.yaml; later ones moved to cluster.toml, just and Python
3.14). Its `.taskfiles/template/Taskfile.yaml` runs, for `configure`:
validate-schemas (cue vet), render-configs, encrypt-secrets, then kubeconform and
talhelper. The anchor is the middle two, timed together:

- render-configs: `makejinja` with PYTHONDONTWRITEBYTECODE=1, in the checkout, with its
  makejinja.toml (templates/overrides + templates/config, templates/scripts/plugin.py;
  `force = true`, so every file is rewritten, secrets in plaintext);
- encrypt-secrets: `find bootstrap kubernetes talos -type f -name "*.sops.*"`, then per
  file `sops filestatus FILE | jq ".encrypted"` and, when that prints false,
  `sops --encrypt --in-place FILE` (go-task runs these through its built-in shell, so
  no shell process per file).

Upstream's files are never copied into this repository: the caller passes a checkout
(`--upstream DIR` or CLUSTERGEN_BENCH_UPSTREAM), and each run works on a scratch copy.
Key files are fakes made here (a real age key from our `clustergen init`).
"""

from __future__ import annotations

import base64
import glob
import json
import os
import resource
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

UPSTREAM_URL = "https://github.com/onedr0p/cluster-template"
UPSTREAM_COMMIT = "77cc9f5f38637039a2138f9f45868dbccb2b258b"
# .mise.toml at UPSTREAM_COMMIT: "pipx:makejinja" = "2.8.2" (it needs Python >= 3.12;
# upstream pins python 3.14.4).
MAKEJINJA_PIN = "makejinja==2.8.2"
MAKEJINJA_FALLBACK = "makejinja==2.8.1"  # the last release that runs on Python 3.11
# Files upstream's Taskfile requires, checked before anything is run.
_LAYOUT = (
    "makejinja.toml",
    "templates/scripts/plugin.py",
    "templates/config",
    ".taskfiles/template/Taskfile.yaml",
)


class UpstreamError(Exception):
    """The upstream checkout or its tools cannot be used."""


@dataclass(frozen=True)
class Upstream:
    """A checkout of the upstream template and a makejinja to run it with."""

    checkout: Path
    makejinja: Path  # installed as upstream's setup does: no .pyc (mise → `uv tool install`)
    makejinja_pyc: Path  # the same, with bytecode compiled at install (pip's default)
    description: str  # commit, makejinja and Python versions, for the report


def locate(argument: str | None) -> Path | None:
    """The upstream checkout given by --upstream or CLUSTERGEN_BENCH_UPSTREAM, if any."""
    value = argument or os.environ.get("CLUSTERGEN_BENCH_UPSTREAM")
    return Path(value).expanduser().resolve() if value else None


def prepare(checkout: Path, scratch: Path, python: str | None) -> Upstream:
    """Check the checkout's layout and install upstream's makejinja into two scratch
    venvs: without bytecode, as upstream's setup installs it (.mise.toml's "pipx:"
    tools go through `uv tool install` when uv is there, and upstream's mise installs
    uv; uv compiles no bytecode unless asked, and the Taskfile runs makejinja with
    PYTHONDONTWRITEBYTECODE=1, so none is ever written), and with bytecode compiled at
    install (pip's default), the stricter anchor. Raises UpstreamError."""
    missing = [name for name in _LAYOUT if not (checkout / name).exists()]
    if missing:
        raise UpstreamError(
            f"{checkout} is not an onedr0p/cluster-template checkout at the Taskfile layout "
            f"(missing {', '.join(missing)}); see bench/README.md: "
            f"git clone {UPSTREAM_URL} && git -C cluster-template checkout {UPSTREAM_COMMIT}"
        )
    commit = _commit(checkout)
    interpreter, pin = _interpreter(python)
    venv, venv_pyc = scratch / "upstream-venv", scratch / "upstream-venv-pyc"
    _uv("venv", "--quiet", "--python", interpreter, str(venv))
    _uv("pip", "install", "--quiet", "--no-compile-bytecode", pin, venv=venv)
    _uv("venv", "--quiet", "--python", interpreter, str(venv_pyc))
    _uv("pip", "install", "--quiet", "--compile-bytecode", pin, venv=venv_pyc)
    version = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    note = (
        "" if commit == UPSTREAM_COMMIT else f" (the README's figures are at {UPSTREAM_COMMIT[:7]})"
    )
    return Upstream(
        checkout=checkout,
        makejinja=venv / "bin" / "makejinja",
        makejinja_pyc=venv_pyc / "bin" / "makejinja",
        description=f"upstream {commit[:7]}{note}, {pin}, Python {version}",
    )


def _commit(checkout: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip() if done.returncode == 0 else "unknown commit"


def _interpreter(python: str | None) -> tuple[str, str]:
    """A Python makejinja 2.8.2 runs on (>= 3.12, newest first), else this one with 2.8.1."""
    candidates = [python] if python else []
    candidates += [shutil.which(f"python3.{minor}") or "" for minor in (14, 13, 12)]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[2-9]*/bin/python3")))[
        ::-1
    ]
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; raise SystemExit(sys.version_info < (3, 12))"],
            capture_output=True,
        )
        if probe.returncode == 0:
            return candidate, MAKEJINJA_PIN
    if python:
        raise UpstreamError(f"--upstream-python {python} is not a Python >= 3.12")
    return sys.executable, MAKEJINJA_FALLBACK


def _uv(*args: str, venv: Path | None = None) -> None:
    env = dict(os.environ)
    if venv is not None:
        env["VIRTUAL_ENV"] = str(venv)
    done = subprocess.run(["uv", *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise UpstreamError(f"`uv {' '.join(args)}` failed:\n{done.stderr.strip()}")


# --- the config, in upstream's format ------------------------------------------------


def upstream_config(ours: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(cluster.yaml, nodes.yaml) for upstream with our config's network, addresses,
    domain, token and nodes (same count, names, addresses, MTUs)."""
    network, kubernetes = ours["network"], ours["kubernetes"]
    gateways = ours["gateways"]
    repo = ours["repository"]["url"].removeprefix("https://github.com/").removesuffix(".git")
    cluster = {
        "node_cidr": network["node_cidr"],
        "node_dns_servers": network.get("dns_servers", ["1.1.1.1", "1.0.0.1"]),
        "node_ntp_servers": network.get("ntp_servers", ["162.159.200.1", "162.159.200.123"]),
        "cluster_api_addr": kubernetes["api"]["addr"],
        "cluster_pod_cidr": kubernetes.get("pod_cidr", "10.42.0.0/16"),
        "cluster_svc_cidr": kubernetes.get("service_cidr", "10.43.0.0/16"),
        "cluster_dns_gateway_addr": gateways["dns"],
        "cluster_gateway_addr": gateways["internal"],
        "repository_name": repo,
        "repository_branch": ours["repository"].get("branch", "main"),
        "cloudflare_domain": ours["domain"]["name"],
        "cloudflare_token": ours["dns"]["token"],
        "cloudflare_gateway_addr": gateways["external"],
        "cilium_loadbalancer_mode": (ours.get("cilium") or {}).get("loadbalancer_mode", "dsr"),
    }
    schematic = (ours.get("talos") or {}).get("schematic_id")
    keys = ("name", "address", "controller", "disk", "mac_addr", "mtu")
    keys += ("secureboot", "encrypt_disk", "kernel_modules")
    nodes = [
        {"schematic_id": node.get("schematic_id", schematic)}
        | {key: node[key] for key in keys if key in node}
        for node in ours["nodes"]
    ]
    return cluster, {"nodes": nodes}


def stage(upstream: Upstream, ours: dict[str, Any], age_key: Path, target: Path) -> Path:
    """A scratch copy of the checkout (without .git) with the config and fake key files,
    ready for a run."""
    shutil.copytree(upstream.checkout, target, ignore=shutil.ignore_patterns(".git", ".venv"))
    cluster, nodes = upstream_config(ours)
    (target / "cluster.yaml").write_text(yaml.safe_dump(cluster, sort_keys=False))
    (target / "nodes.yaml").write_text(yaml.safe_dump(nodes, sort_keys=False))
    shutil.copy2(age_key, target / "age.key")
    (target / "github-deploy.key").write_text(_fake_deploy_key())
    (target / "github-push-token.txt").write_text(secrets.token_hex(16) + "\n")
    tunnel = {
        "AccountTag": secrets.token_hex(16),
        "TunnelSecret": base64.b64encode(secrets.token_bytes(32)).decode(),
        "TunnelID": str(uuid.uuid4()),
    }
    (target / "cloudflare-tunnel.json").write_text(json.dumps(tunnel))
    return target


def _fake_deploy_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        .decode()
    )


# --- one timed run ---------------------------------------------------------------------


def run(
    upstream: Upstream, workdir: Path, env: dict[str, str], sops: str, *, pyc: bool = False
) -> tuple[float, float]:
    """(wall, cpu) seconds of render-configs + encrypt-secrets in a staged `workdir`;
    cpu is user + sys of every process started. `pyc`: the makejinja whose modules were
    compiled at install. Raises UpstreamError on a failure."""
    run_env = {k: v for k, v in env.items() if k not in ("PYTHONPYCACHEPREFIX", "VIRTUAL_ENV")}
    # The Taskfiles' env: (root Taskfile) SOPS_AGE_KEY_FILE, SOPS_CONFIG; (render-configs)
    # PYTHONDONTWRITEBYTECODE. Without the pycache prefix, the venv's installed .pyc are read.
    run_env.update(
        SOPS_AGE_KEY_FILE=str(workdir / "age.key"),
        SOPS_CONFIG=str(workdir / ".sops.yaml"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    makejinja = upstream.makejinja_pyc if pyc else upstream.makejinja
    _check(subprocess.run([str(makejinja)], env=run_env, cwd=workdir, capture_output=True))
    dirs = [str(workdir / name) for name in ("bootstrap", "kubernetes", "talos")]
    found = subprocess.run(
        ["find", *dirs, "-type", "f", "-name", "*.sops.*", "-print"],
        env=run_env,
        capture_output=True,
        text=True,
    )
    _check(found)
    for secret in found.stdout.split():
        status = subprocess.Popen(
            [sops, "filestatus", secret], env=run_env, cwd=workdir, stdout=subprocess.PIPE
        )
        encrypted = subprocess.run(
            ["jq", ".encrypted"], env=run_env, stdin=status.stdout, capture_output=True, text=True
        )
        assert status.stdout is not None
        status.stdout.close()
        status.wait()
        if encrypted.stdout.strip() == "false":
            _check(
                subprocess.run(
                    [sops, "--encrypt", "--in-place", secret],
                    env=run_env,
                    cwd=workdir,
                    capture_output=True,
                )
            )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if not found.stdout.split():
        raise UpstreamError(f"upstream rendered no *.sops.* file in {workdir}")
    return wall, (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)


def count(workdir: Path) -> tuple[int, int]:
    """(files, secrets) rendered by the last run in `workdir`."""
    files = [
        p
        for name in ("bootstrap", "kubernetes", "talos", ".sops.yaml")
        for p in ([workdir / name] if (workdir / name).is_file() else (workdir / name).rglob("*"))
        if p.is_file()
    ]
    return len(files), sum(1 for p in files if ".sops." in p.name and p.name != ".sops.yaml")


def _check(done: subprocess.CompletedProcess[Any]) -> None:
    if done.returncode != 0:
        err = done.stderr.decode() if isinstance(done.stderr, bytes) else done.stderr
        raise UpstreamError(f"`{' '.join(map(str, done.args))}` failed:\n{err[-2000:]}")
