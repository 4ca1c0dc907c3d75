"""The old side from a git revision, read with one ls-tree and one cat-file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.command import run
from generator.diff import compare
from generator.diff.git import read_git_tree
from generator.errors import ClusterGenError

MANIFEST = ".clustergen/manifest.json"


def commit(repo: Path, files: dict[str, bytes], message: str) -> None:
    for path, content in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_bytes(content)
    run(["git", "add", "-A"], cwd=repo)
    run(["git", "commit", "-q", "-m", message], cwd=repo)


def test_against_a_revision(git_repo: Path) -> None:
    work = git_repo / "cluster"  # cluster.yaml may live below the repository root
    work.mkdir()
    manifest = json.dumps({"files": {"a.yaml": "x", "old.yaml": "y"}}).encode()
    commit(
        git_repo,
        {
            "cluster/a.yaml": b"k: 1\n",
            "cluster/old.yaml": b"o: 1\n",
            "cluster/mine.txt": b"u\n",
            f"cluster/{MANIFEST}": manifest,
        },
        "first",
    )
    commit(git_repo, {"cluster/a.yaml": b"k: 2\n"}, "second")
    new = {"a.yaml": b"k: 2\n", "b.yaml": b"n: 1\n"}
    diff = compare(new, work, "HEAD~1", None)
    assert diff.added == ("b.yaml",)
    assert diff.removed == ("old.yaml",)  # mine.txt is not ours
    assert [c.path for c in diff.changed] == ["a.yaml"]
    assert not compare(new, work, "HEAD", None).changed


def test_read_git_tree_returns_exact_bytes(git_repo: Path) -> None:
    blob = bytes(range(256)) + b"\n\n"
    commit(git_repo, {"bin.dat": blob, "x/y.yaml": b"a: 1"}, "c")
    assert read_git_tree(git_repo, "main", ["bin.dat", "x/y.yaml", "nope"]) == {
        "bin.dat": blob,
        "x/y.yaml": b"a: 1",
    }


def test_unknown_revision_is_a_clear_error(git_repo: Path) -> None:
    commit(git_repo, {"a": b"1"}, "c")
    with pytest.raises(ClusterGenError, match=r"cannot read git revision 'v9\.9'"):
        read_git_tree(git_repo, "v9.9", ["a"])
