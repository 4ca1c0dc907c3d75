"""The golden-tree helper itself, on a tiny render."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.render import render_tree


def _tiny_tree(tmp_path: Path, greeting: str) -> dict[str, bytes]:
    config = tmp_path / "templates" / "config"
    (config / "apps").mkdir(parents=True)
    (config / "apps" / "hello.yaml.j2").write_text("hello: #{ who }#\nhelm: '{{ .Values.x }}'\n")
    (config / "README.md").write_text("verbatim\n")
    return render_tree({"who": greeting}, config, tmp_path / "templates").files


def test_tiny_tree_matches_committed_snapshot(assert_golden, tmp_path: Path) -> None:
    assert_golden(_tiny_tree(tmp_path, "world"), "selftest")


def test_differences_are_listed_with_a_diff(assert_golden, tmp_path: Path) -> None:
    snapshots = tmp_path / "snapshots"
    (snapshots / "tiny" / "apps").mkdir(parents=True)
    (snapshots / "tiny" / "apps" / "hello.yaml").write_text(
        "hello: world\nhelm: '{{ .Values.x }}'\n"
    )
    (snapshots / "tiny" / "gone.txt").write_text("old\n")
    checker = assert_golden.with_root(snapshots)

    with pytest.raises(pytest.fail.Exception) as failure:
        checker(_tiny_tree(tmp_path, "moon"), "tiny")

    message = str(failure.value)
    assert "missing (in snapshot, not rendered): gone.txt" in message
    assert "extra (rendered, not in snapshot): README.md" in message
    assert "different: apps/hello.yaml" in message
    assert "-hello: world" in message and "+hello: moon" in message


def test_missing_snapshot_says_how_to_create_it(assert_golden, tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match="--update-golden"):
        assert_golden.with_root(tmp_path)({"a": b"x"}, "nothing-here")
