"""Timings collected by bench/run.py, and how they are printed."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

UPSTREAM_SECONDS = 0.6  # onedr0p/cluster-template: makejinja render + one sops run per secret
TARGETS = {"warm": 0.3, "cold-sample": UPSTREAM_SECONDS, "cold-large": 3.0}


@dataclass
class Series:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def row(self, name: str) -> str:
        if not self.wall:
            return f"  {name:<44} (not run)"
        cpu = f"{statistics.median(self.cpu):8.3f}" if self.cpu else " " * 8
        return (
            f"  {name:<44} {statistics.median(self.wall):8.3f} "
            f"[{min(self.wall):.3f}–{max(self.wall):.3f}] {cpu}"
        )

    @property
    def median(self) -> float:
        return statistics.median(self.wall) if self.wall else float("nan")


@dataclass
class Result:
    name: str
    files: int = 0
    secrets: int = 0
    steps: dict[str, Series] = field(default_factory=dict)
    commands: dict[str, Series] = field(default_factory=dict)
    warm_files_written: list[int] = field(default_factory=list)
    profile: str = ""


def report(result: Result) -> str:
    header = f"  {'':<44} {'median':>8} [min–max]        {'cpu':>8}"
    size = f": {result.files} files, {result.secrets} secrets" if result.files else ""
    lines = [f"\n== {result.name}{size} =="]
    if result.steps:
        lines += ["steps (each run in a fresh process; seconds)", header]
        lines += [series.row(step) for step, series in result.steps.items()]
    lines += [
        "clustergen configure as a subprocess (seconds)",
        header,
        *(series.row(label) for label, series in result.commands.items()),
        f"  files written by the warm runs: {result.warm_files_written}",
    ]
    if result.profile:
        lines += ["hot spots of a warm configure (cProfile, imports included):", result.profile]
    return "\n".join(lines)


def summary(results: list[Result]) -> str:
    lines = [f"\n== targets (upstream: {UPSTREAM_SECONDS} s for render + encryption) =="]
    for result in results:
        warm = result.commands.get("configure warm (nothing changed)", Series()).median
        written = max(result.warm_files_written, default=0)
        lines.append(_verdict(f"{result.name}: warm configure", warm, TARGETS["warm"], written))
        cold = result.commands.get("configure cold --no-validate", Series()).median
        if result.name == "sample":
            lines.append(_verdict("sample: cold --no-validate", cold, TARGETS["cold-sample"]))
        if result.name == "large":
            full = result.commands.get("configure cold (validates, kubectl)", Series()).median
            lines.append(_verdict("large: cold --no-validate", cold, TARGETS["cold-large"]))
            lines.append(_verdict("large: cold, validated", full, TARGETS["cold-large"]))
    return "\n".join(lines)


def _verdict(label: str, seconds: float, target: float, written: int | None = None) -> str:
    ok = seconds <= target and not written
    extra = f", {written} file(s) written" if written is not None else ""
    verdict = "met" if ok else "MISSED"
    return f"  {label:<34} {seconds:6.3f} s (target ≤ {target} s{extra}): {verdict}"
