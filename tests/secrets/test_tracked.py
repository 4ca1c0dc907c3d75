"""tracked_files finds a repository wherever git would, and runs no git where git would
find none (generator/secrets/tracked.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from generator.secrets import tracked
from generator.secrets.tracked import tracked_files


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def _repository_with(root: Path, rel: str) -> Path:
    """A repository at root that tracks the file `rel` (created)."""
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text("x\n")
    _git("init", "-q", cwd=root)
    _git("add", rel, cwd=root)
    return root / rel


def test_a_workdir_below_the_repository_root(tmp_path: Path) -> None:
    tracked_file = _repository_with(tmp_path, "clusters/home/age.key")
    assert tracked_files(tracked_file.parent, ["age.key", "webhook.token"]) == ["age.key"]


def test_a_worktree_whose_git_is_a_file(tmp_path: Path) -> None:
    main = tmp_path / "main"
    main.mkdir()
    _repository_with(main, "age.key")
    _git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "c", cwd=main)
    _git("worktree", "add", "-q", str(tmp_path / "other"), cwd=main)
    assert (tmp_path / "other" / ".git").is_file()
    assert tracked_files(tmp_path / "other", ["age.key"]) == ["age.key"]


def test_a_repository_named_by_git_dir_and_git_work_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _repository_with(tmp_path / "elsewhere", "age.key")
    work = tmp_path / "elsewhere"
    (work / ".git").rename(tmp_path / "repository.git")  # no .git above the workdir now
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "repository.git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(work))
    assert tracked_files(work, ["age.key"]) == ["age.key"]


def test_outside_any_repository_no_git_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if any((d / ".git").exists() for d in tmp_path.parents):
        pytest.skip("the temporary directory is inside a repository")

    def no_git(*args: object, **kwargs: object) -> None:
        raise AssertionError("git ran outside a repository")

    monkeypatch.setattr(tracked, "run", no_git)
    (tmp_path / "age.key").write_text("x\n")
    assert tracked_files(tmp_path, ["age.key"]) == []
