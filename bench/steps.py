"""One benchmark run of each pipeline step, in this fresh interpreter; prints JSON timings.

Run by bench/run.py, once per run, so every number includes what a real
`clustergen` process pays (imports, the first compile or bytecode load):

    python bench/steps.py WORKDIR SCRATCH [--render-only]
    python bench/steps.py WORKDIR SCRATCH --profile N   # cProfile of a warm configure instead

WORKDIR holds cluster.yaml and its side files; SCRATCH is an empty directory
for the step outputs. Nothing is written anywhere else.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
timings: dict[str, float] = {}


def timed(name: str, action: Callable[[], T]) -> T:
    start = time.perf_counter()
    result = action()
    timings[name] = time.perf_counter() - start
    return result


def steps(workdir: Path, scratch: Path, render_only: bool) -> dict[str, Any]:
    config = workdir / "cluster.yaml"
    timings["import"] = _import_pipeline()
    from generator import paths
    from generator.config import load_cluster
    from generator.render.context import build_context, load_versions
    from generator.render.tree import render_tree
    from generator.secrets.encrypt import Written, encrypt_tree, fingerprints_for
    from generator.secrets.sops import Sops
    from generator.sidefiles import read_side_files
    from generator.write.manifest import load_manifest
    from generator.write.writer import apply_plan, plan_write

    cluster = timed("load+validate config", lambda: load_cluster(config))

    def render() -> Any:
        side = read_side_files(cluster.values, workdir)
        context = build_context(cluster.context(), side, load_versions(paths.VERSIONS_FILE))
        return render_tree(context)

    tree = timed("render in memory", render)
    info = {
        "files": len(tree.files),
        "secrets": sum(1 for p in tree.files if ".sops." in Path(p).name[1:]),
    }
    if render_only:
        return {"timings": timings, **info}

    sops = Sops(age_key_file=workdir / paths.AGE_KEY_NAME, config=workdir / ".sops.yaml")
    for workers, name in (
        (1, "encrypt cold, sequential (workers=1)"),
        (4, "encrypt cold, parallel (workers=4)"),
    ):
        target = scratch / f"cold-{workers}"
        files = timed(name, lambda t=target, w=workers: encrypt_tree(tree.files, t, sops, w))
    out = scratch / "out"
    out.mkdir()
    fingerprints = fingerprints_for(tree.files, sops)

    def write() -> None:
        plan = plan_write(files, out, load_manifest(out), tree.modes, fingerprints=fingerprints)
        apply_plan(plan, out)

    timed("write (plan + apply, empty dir)", write)
    manifest = load_manifest(out)
    written = Written(manifest.files, manifest.fingerprints)
    timed(
        "encrypt warm, fingerprints (no sops)",
        lambda: encrypt_tree(tree.files, out, sops, written=written),
    )
    timed("encrypt warm, decrypt + compare", lambda: encrypt_tree(tree.files, out, sops))
    timed(
        "plan write, nothing changed",
        lambda: plan_write(files, out, manifest, tree.modes, fingerprints=fingerprints),
    )
    timings["import generator.validate"] = _import_validate()
    _validate_steps(out, sops)
    return {"timings": timings, **info}


def _import_pipeline() -> float:
    start = time.perf_counter()
    import generator.cli
    import generator.pipeline  # noqa: F401

    return time.perf_counter() - start


def _import_validate() -> float:
    start = time.perf_counter()
    import generator.validate  # noqa: F401

    return time.perf_counter() - start


def _validate_steps(out: Path, sops: Any) -> None:
    from generator.errors import ClusterGenError
    from generator.validate import read_tree, validate_tree

    def decrypt(path: str, data: bytes) -> bytes | None:
        try:
            result: bytes = sops.decrypt(data, path)
            return result
        except ClusterGenError:
            return None

    # As configure reads it: extra CRD schema locations, os.pathsep-separated.
    raw = os.environ.get("CLUSTERGEN_SCHEMA_LOCATION", "")
    locations = [part for part in raw.split(os.pathsep) if part]
    for kubectl, name in (
        (False, "validate output, no kubectl"),
        (True, "validate output, kubectl"),
    ):
        timed(
            name,
            lambda k=kubectl: validate_tree(
                read_tree(out),
                schema_locations=locations,
                decrypt=decrypt,
                kubectl=k,
                root=out,
            ),
        )


def profile(workdir: Path, top: int) -> str:
    """Top functions (cumulative) of a whole warm configure, imports included."""
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    import generator.cli  # noqa: F401  (what the clustergen script imports first)
    from generator.pipeline import configure

    report = configure(workdir / "cluster.yaml")
    profiler.disable()
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.sort_stats("cumulative")
    total = max(stats.total_tt, 1e-9)  # type: ignore[attr-defined]
    rows = []
    for func, (_, ncalls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        if not _is_import_machinery(func):
            rows.append((cumtime, tottime, ncalls, _where(func)))
    rows.sort(reverse=True)
    lines = [f"  (profiled run: {total:.3f} s; first line of its report: {report.splitlines()[0]})"]
    lines.append(f"  {'cumulative':>10} {'own':>8} {'calls':>7}  function")
    for cumtime, tottime, ncalls, where in rows[:top]:
        lines.append(f"  {cumtime:10.3f} {tottime:8.3f} {ncalls:7d}  {where}")
    return "\n".join(lines)


def _is_import_machinery(func: tuple[str, int, str]) -> bool:
    filename, _, name = func
    if filename.startswith("<frozen") or filename.endswith("steps.py"):
        return True
    return name in ("<built-in method builtins.exec>", "<built-in method builtins.__import__>")


def _where(func: tuple[str, int, str]) -> str:
    filename, line, name = func
    if filename == "~":
        return name
    for marker in ("site-packages/", "/generator/", "/lib/python3"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            if marker == "/generator/":
                filename = "generator/" + filename
            break
    return f"{name} ({filename}:{line})"


def main(argv: list[str]) -> None:
    workdir, scratch = Path(argv[0]), Path(argv[1])
    if "--profile" in argv:
        print(profile(workdir, int(argv[argv.index("--profile") + 1])))
        return
    print(json.dumps(steps(workdir, scratch, render_only="--render-only" in argv)))


if __name__ == "__main__":
    main(sys.argv[1:])
