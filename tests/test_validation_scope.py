"""generator/validation_scope.py: the stamp configure keeps of the last validated tree."""

from __future__ import annotations

from pathlib import Path

from generator.validation_scope import (
    STAMP_PATH,
    last_validated,
    planned_tree,
    record_validated,
    tree_stamp,
)

TREE = {"kubernetes/apps/a.yaml": b"a: 1\n", "kubernetes/apps/b.yaml": b"b: 2\n"}


def test_the_stamp_changes_with_any_path_content_or_schema_location() -> None:
    stamp = tree_stamp(TREE, [])
    assert tree_stamp(dict(reversed(TREE.items())), []) == stamp  # order does not matter
    assert tree_stamp({**TREE, "kubernetes/apps/c.yaml": b""}, []) != stamp
    assert tree_stamp({**TREE, "kubernetes/apps/a.yaml": b"a: 2\n"}, []) != stamp
    renamed = {"kubernetes/apps/a2.yaml": b"a: 1\n", "kubernetes/apps/b.yaml": b"b: 2\n"}
    assert tree_stamp(renamed, []) != stamp
    # Bytes moved across a file boundary are another tree.
    moved = {"kubernetes/apps/a.yaml": b"a: 1\nb", "kubernetes/apps/b.yaml": b": 2\n"}
    assert tree_stamp(moved, []) != stamp
    assert tree_stamp(TREE, ["/schemas"]) != stamp


def test_the_planned_tree_is_the_users_files_plus_ours(tmp_path: Path) -> None:
    (tmp_path / "kubernetes/apps/mine").mkdir(parents=True)
    (tmp_path / "kubernetes/apps/mine/app.yaml").write_bytes(b"mine: 1\n")
    (tmp_path / "kubernetes/apps/old.yaml").write_bytes(b"old: 1\n")
    (tmp_path / "notes.txt").write_bytes(b"not validated\n")
    planned = planned_tree(
        tmp_path, {"kubernetes/apps/a.yaml": b"a: 1\n"}, ["kubernetes/apps/old.yaml"]
    )
    assert planned == {
        "kubernetes/apps/mine/app.yaml": b"mine: 1\n",
        "kubernetes/apps/a.yaml": b"a: 1\n",
    }


def test_record_and_clear(tmp_path: Path) -> None:
    assert last_validated(tmp_path) is None
    (tmp_path / ".clustergen").mkdir()
    record_validated(tmp_path, "abc")
    assert last_validated(tmp_path) == "abc"
    record_validated(tmp_path, None)
    assert last_validated(tmp_path) is None and not (tmp_path / STAMP_PATH).exists()


def test_a_link_planted_at_the_stamp_is_replaced_not_written_through(tmp_path: Path) -> None:
    (tmp_path / ".clustergen").mkdir()
    outside = tmp_path / "outside"
    outside.write_text("keep\n")
    (tmp_path / STAMP_PATH).symlink_to(outside)
    record_validated(tmp_path, "abc")
    assert outside.read_text() == "keep\n"
    assert not (tmp_path / STAMP_PATH).is_symlink() and last_validated(tmp_path) == "abc"
