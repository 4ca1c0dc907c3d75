"""Golden trees: compare a rendered tree with tests/golden/snapshots/<name>/, file by file.

    def test_minimal(assert_golden):
        assert_golden(render_tree(context).files, "minimal")

`pytest tests/golden --update-golden` (task test:update-golden) rewrites the
snapshot instead; review the result with `git diff tests/golden/snapshots`.
"""

from __future__ import annotations

import difflib
import shutil
from collections.abc import Mapping
from pathlib import Path

import pytest

from generator.paths import TEMPLATE_TREE

SNAPSHOTS = Path(__file__).parent / "snapshots"
MAX_DIFF_LINES = 40


class GoldenSnapshots:
    def __init__(self, root: Path, update: bool) -> None:
        self.root = root
        self.update = update

    def with_root(self, root: Path) -> GoldenSnapshots:
        """The same checker on another snapshot directory, never updating (for self-tests)."""
        return GoldenSnapshots(root, update=False)

    def __call__(self, tree: Mapping[str, bytes], name: str) -> None:
        snapshot = self.root / name
        tree = templated_only(tree)
        if self.update:
            write_snapshot(tree, snapshot)
            return
        if not snapshot.is_dir():
            pytest.fail(f"no snapshot {snapshot}; create it with --update-golden")
        problems = compare(tree, snapshot)
        if problems:
            pytest.fail(
                f"rendered tree differs from {snapshot} "
                f"(if intended: pytest tests/golden --update-golden):\n" + "\n".join(problems),
                pytrace=False,
            )


def templated_only(tree: Mapping[str, bytes]) -> dict[str, bytes]:
    """Drop files copied verbatim from templates/config: they cannot vary with the config,
    and a copy per snapshot would only repeat the template."""
    return {p: b for p, b in tree.items() if not (TEMPLATE_TREE / p).is_file()}


def read_snapshot(snapshot: Path) -> dict[str, bytes]:
    return {
        p.relative_to(snapshot).as_posix(): p.read_bytes()
        for p in sorted(snapshot.rglob("*"))
        if p.is_file()
    }


def write_snapshot(tree: Mapping[str, bytes], snapshot: Path) -> None:
    if snapshot.exists():
        shutil.rmtree(snapshot)
    for rel, content in tree.items():
        target = snapshot / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


def compare(tree: Mapping[str, bytes], snapshot: Path) -> list[str]:
    """One entry per missing, extra or different file, with a short unified diff."""
    expected = read_snapshot(snapshot)
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


@pytest.fixture
def assert_golden(request: pytest.FixtureRequest) -> GoldenSnapshots:
    return GoldenSnapshots(SNAPSHOTS, bool(request.config.getoption("--update-golden")))
