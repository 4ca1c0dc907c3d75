"""Golden trees: compare a rendered tree with its committed snapshot, file by file.

    def test_bgp(assert_golden):
        assert_golden(render_config(config, GOLDEN_SIDE).files, "bgp")

The sample's tree is kept whole, in tests/golden/snapshots/sample/. Every other scenario
is kept as its delta against the reference renders (the sample's, then all-features'),
in tests/golden/snapshots/<name>.diff: only the lines that differ (format: delta.py).
The references are rendered once per session, from the current templates, so a chart
bump changes the sample's snapshot (or all-features' delta, for a chart only it has) and
no other. A test that snapshots part of a tree passes `within`, the function that picks
that part: it is applied to the references too.

`pytest tests/golden --update-golden` (task test:update-golden) rewrites the snapshots
instead; review the result with `git diff tests/golden/snapshots`.
"""

from __future__ import annotations

import difflib
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from generator import paths
from generator.paths import TEMPLATE_TREE
from tests.golden import delta

SNAPSHOTS = Path(__file__).parent / "snapshots"
FIXTURES = Path(__file__).resolve().parents[1] / "config" / "fixtures" / "valid"
# The reference renders, base first. Their configs; the trees test checks them too.
REFERENCE_CONFIGS = {
    "sample": paths.SAMPLE_CONFIG,
    "all-features": FIXTURES / "all-features.yaml",
}
MAX_DIFF_LINES = 40
# When set, every checked tree is also written whole to $CLUSTERGEN_GOLDEN_DUMP/<scenario>/.
DUMP_ENV = "CLUSTERGEN_GOLDEN_DUMP"

Tree = Mapping[str, bytes]
Within = Callable[[Tree], Tree]


def everything(tree: Tree) -> Tree:
    return tree


class References:
    """Reference renders by name, each rendered on first use; the first is the base."""

    def __init__(self, renders: Mapping[str, Callable[[], Tree]]) -> None:
        self._renders = dict(renders)
        self._trees: dict[str, dict[str, bytes]] = {}

    @property
    def base(self) -> str:
        return next(iter(self._renders))

    def tree(self, name: str) -> dict[str, bytes]:
        if name not in self._trees:
            self._trees[name] = templated_only(self._renders[name]())
        return self._trees[name]

    def others(self, scenario: str, within: Within) -> dict[str, Tree]:
        """The non-base references a scenario's added files may be diffed against
        (never the scenario itself), in order."""
        names = [n for n in self._renders if n not in (self.base, scenario)]
        return {name: within(self.tree(name)) for name in names}


class GoldenSnapshots:
    def __init__(self, root: Path, update: bool, references: References) -> None:
        self.root = root
        self.update = update
        self.references = references

    def with_root(
        self, root: Path, references: References | None = None, update: bool = False
    ) -> GoldenSnapshots:
        """The same checker on another snapshot directory (for self-tests)."""
        return GoldenSnapshots(root, update, references or self.references)

    def __call__(self, tree: Tree, name: str, within: Within = everything) -> None:
        if dump := os.environ.get(DUMP_ENV):
            # Whole trees, for comparing objects across a refactor (tests/golden/objects.py).
            write_snapshot(tree, Path(dump) / name)
        tree = templated_only(tree)
        if name == self.references.base:
            self._whole(tree, name)
        else:
            self._delta(tree, name, within)

    def _whole(self, tree: Tree, name: str) -> None:
        snapshot, stale = self.root / name, self.root / f"{name}.diff"
        if self.update:
            stale.unlink(missing_ok=True)
            write_snapshot(tree, snapshot)
            return
        _fail_if_stale(stale)
        if not snapshot.is_dir():
            pytest.fail(f"no snapshot {snapshot}; create it with --update-golden")
        _fail_on(snapshot, compare(tree, read_snapshot(snapshot)))

    def _delta(self, tree: Tree, name: str, within: Within) -> None:
        snapshot, stale = self.root / f"{name}.diff", self.root / name
        base = within(self.references.tree(self.references.base))
        others = self.references.others(name, within)
        if self.update:
            if stale.is_dir():
                shutil.rmtree(stale)
            entries = delta.make(tree, base, list(others.items()))
            header = (
                f"{name}: the {self.references.base} render with these files changed, "
                f"added or removed\n(format: tests/golden/delta.py; "
                "rewrite: uv run pytest tests/golden --update-golden)"
            )
            text = delta.dumps(entries, header)
            if not snapshot.is_file() or snapshot.read_bytes().decode() != text:
                snapshot.parent.mkdir(parents=True, exist_ok=True)
                snapshot.write_bytes(text.encode())
            return
        _fail_if_stale(stale)
        if not snapshot.is_file():
            pytest.fail(f"no snapshot {snapshot}; create it with --update-golden")
        try:
            entries = delta.loads(snapshot.read_bytes().decode(), snapshot.name)
        except delta.DeltaError as error:
            pytest.fail(f"{error} (rewrite it with --update-golden)", pytrace=False)
        expected, conflicts = delta.apply(entries, base, others)
        problems = [f"delta no longer fits the references: {c.path}: {c.reason}" for c in conflicts]
        skip = {c.path for c in conflicts}
        problems += compare({p: c for p, c in tree.items() if p not in skip}, expected)
        _fail_on(snapshot, problems)


def _fail_if_stale(path: Path) -> None:
    if path.exists():
        pytest.fail(f"stale snapshot {path} (old layout); --update-golden removes it")


def _fail_on(snapshot: Path, problems: list[str]) -> None:
    if problems:
        pytest.fail(
            f"rendered tree differs from {snapshot} "
            f"(if intended: pytest tests/golden --update-golden):\n" + "\n".join(problems),
            pytrace=False,
        )


def templated_only(tree: Tree) -> dict[str, bytes]:
    """Drop files copied verbatim from templates/config: they cannot vary with the config,
    and a copy per snapshot would only repeat the template."""
    return {p: b for p, b in tree.items() if not (TEMPLATE_TREE / p).is_file()}


def read_snapshot(snapshot: Path) -> dict[str, bytes]:
    return {
        p.relative_to(snapshot).as_posix(): p.read_bytes()
        for p in sorted(snapshot.rglob("*"))
        if p.is_file()
    }


def snapshot_paths(root: Path = SNAPSHOTS) -> set[str]:
    """Every rendered path some snapshot under `root` holds: the whole trees' files and
    the files deltas change or add (for checks over all rendered paths, e.g. .gitignore)."""
    found: set[str] = set()
    for snapshot in root.iterdir():
        if snapshot.is_dir():
            found |= read_snapshot(snapshot).keys()
        elif snapshot.suffix == ".diff":
            entries = delta.loads(snapshot.read_bytes().decode(), snapshot.name)
            found |= {e.path for e in entries if e.kind != "removed"}
    return found


def write_snapshot(tree: Tree, snapshot: Path) -> None:
    if snapshot.exists():
        shutil.rmtree(snapshot)
    for rel, content in tree.items():
        target = snapshot / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


def compare(tree: Tree, expected: Tree) -> list[str]:
    """One entry per missing, extra or different file, with a short unified diff."""
    problems = [f"missing (in snapshot, not rendered): {p}" for p in sorted(expected.keys() - tree)]
    problems += [f"extra (rendered, not in snapshot): {p}" for p in sorted(tree.keys() - expected)]
    for path in sorted(expected.keys() & tree.keys()):
        if expected[path] != tree[path]:
            problems.append(f"different: {path}\n{_diff(path, expected[path], tree[path])}")
    return problems


def _diff(path: str, old: bytes, new: bytes) -> str:
    try:
        old_lines = old.decode().splitlines(keepends=True)
        new_lines = new.decode().splitlines(keepends=True)
    except UnicodeDecodeError:
        return "  (binary content differs)"
    lines = list(difflib.unified_diff(old_lines, new_lines, f"snapshot/{path}", f"render/{path}"))
    if len(lines) > MAX_DIFF_LINES:
        lines = [*lines[:MAX_DIFF_LINES], f"... {len(lines) - MAX_DIFF_LINES} more diff lines\n"]
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines).rstrip("\n")
