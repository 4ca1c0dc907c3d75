"""Timings collected by bench/run.py, and how they are printed."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

ANCHOR = "anchor: upstream makejinja + sops loop"
# The same with makejinja's modules compiled at install: a stricter base, shown alongside.
ANCHOR_PYC = "anchor, makejinja with .pyc (stricter)"
# Not the anchor: upstream's method applied to our (larger) templates.
SAME_WORK = "same work: makejinja on our templates + sops"
COLD = "configure cold, empty caches (validates)"
WARM = "configure warm (nothing changed)"
ONE_CHANGE = "configure after one change (token + MTU)"
# Each of our runs as a fraction of the anchor measured in the same run (issue 19).
RATIO_TARGETS = {COLD: 0.8, ONE_CHANGE: 0.4, WARM: 0.25}
SUITE_TARGET = 60.0  # seconds of `uv run task test` on a clean clone, 2 cores


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
    suite_seconds: float | None = None
    anchor_files: int = 0
    anchor_secrets: int = 0


def report(result: Result) -> str:
    header = f"  {'':<44} {'median':>8} [min–max]        {'cpu':>8}"
    size = f": {result.files} files, {result.secrets} secrets" if result.files else ""
    if result.anchor_files:
        size += f" (upstream: {result.anchor_files} files, {result.anchor_secrets} secrets)"
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


def ratio(result: Result, label: str, anchor_label: str = ANCHOR) -> float:
    """Median of `label` over the median of the anchor of the same runs."""
    anchor = result.commands.get(anchor_label, Series()).median
    return result.commands.get(label, Series()).median / anchor


def summary(results: list[Result], anchor: str | None = None) -> str:
    """Targets against the upstream anchor (`anchor` describes it; None: not measured)."""
    lines = ["\n== targets: our runs as a fraction of the anchor measured alongside =="]
    if anchor:
        lines.append(f"  anchor: {anchor}")
    else:
        lines.append("  no upstream anchor measured (--upstream DIR): targets not evaluated")
    for result in results:
        if result.suite_seconds is not None:
            ok = "met" if result.suite_seconds <= SUITE_TARGET else "MISSED"
            lines.append(
                f"  {'uv run task test, clean clone':<52} {result.suite_seconds:6.1f} s "
                f"(target ≤ {SUITE_TARGET:.0f} s): {ok}"
            )
            continue
        if SAME_WORK in result.commands:
            same = result.commands[SAME_WORK].median
            lines.append(f"  {result.name}: same-work reference {same:.3f} s (not a target base)")
            for label in RATIO_TARGETS:
                lines.append(f"    {label:<48} {ratio(result, label, SAME_WORK):5.2f}× of it")
        if ANCHOR not in result.commands:
            continue
        if ANCHOR_PYC in result.commands:
            strict = result.commands[ANCHOR_PYC].median
            lines.append(f"  {result.name}: stricter anchor (.pyc) {strict:.3f} s")
            for label, target in RATIO_TARGETS.items():
                value = ratio(result, label, ANCHOR_PYC)
                verdict = "within" if value <= target else "over"
                lines.append(f"    {label:<48} {value:5.2f}× of it ({verdict} {target}×)")
        seconds = result.commands[ANCHOR].median
        lines.append(f"  {result.name}: anchor {seconds:.3f} s")
        for label, target in RATIO_TARGETS.items():
            value = ratio(result, label)
            written = max(result.warm_files_written, default=0) if label == WARM else 0
            ok = value <= target and not written
            extra = f", {written} file(s) written" if written else ""
            lines.append(
                f"    {label:<48} {value:5.2f}× (target ≤ {target}×{extra}): "
                f"{'met' if ok else 'MISSED'}"
            )
    return "\n".join(lines)
