"""The lock on .clustergen/lock: one writer at a time, the holder named, no stale locks."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from generator.write.fs import WriteError
from generator.write.lock import LockHeld, writing
from tests.process import clustergen_in_process, run_clustergen


def test_a_second_run_waits_then_names_the_holder(tmp_path: Path) -> None:
    (tmp_path / "cluster.yaml").write_text("{}\n")
    with writing(tmp_path):
        started = time.monotonic()
        result = run_clustergen(
            ["configure"], cwd=tmp_path, env={**os.environ, "CLUSTERGEN_LOCK_WAIT": "0.5"}
        )
        waited = time.monotonic() - started

    assert result.returncode == 1
    assert result.stderr == (
        f"error: another clustergen (PID {os.getpid()}) is writing in {tmp_path} and holds "
        ".clustergen/lock; wait for it to finish, then run again\n"
    )
    assert waited >= 0.5
    assert (tmp_path / ".clustergen/lock").read_text() == f"{os.getpid()}\n"


def test_every_writing_command_takes_the_lock(tmp_path: Path) -> None:
    env = {**os.environ, "CLUSTERGEN_LOCK_WAIT": "0"}
    (tmp_path / "cluster.yaml").write_text("{}\n")
    with writing(tmp_path):
        for argv in (
            ["init", "--dir", str(tmp_path)],
            ["secrets", "rotate", "--dir", str(tmp_path)],
            ["secrets", "inventory", "--dir", str(tmp_path)],
            ["configure", "--config", str(tmp_path / "cluster.yaml")],
        ):
            # In this process (the lock is per open file, so held here too); the test above
            # takes it from a child process.
            result = clustergen_in_process(argv, env=env)
            assert result.returncode == 1, argv
            assert "holds .clustergen/lock" in result.stderr, argv
    assert sorted(p.name for p in tmp_path.iterdir()) == [".clustergen", "cluster.yaml"]


def test_the_lock_is_taken_once_the_holder_is_done(tmp_path: Path) -> None:
    holding = writing(tmp_path)
    holding.__enter__()
    threading.Timer(0.3, holding.__exit__, (None, None, None)).start()

    with writing(tmp_path, wait=5) as recovered:
        assert recovered is None


def test_a_lock_left_by_a_dead_process_is_not_stale(tmp_path: Path) -> None:
    (tmp_path / ".clustergen").mkdir()
    (tmp_path / ".clustergen/lock").write_text("999999\n")

    with writing(tmp_path, wait=0):
        assert (tmp_path / ".clustergen/lock").read_text() == f"{os.getpid()}\n"


def test_held_lock_in_process(tmp_path: Path) -> None:
    with (
        writing(tmp_path),
        pytest.raises(LockHeld, match=rf"PID {os.getpid()}\)"),
        writing(tmp_path, wait=0.1),
    ):
        pass


def test_symlinked_state_directory_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".clustergen").symlink_to(elsewhere)

    with pytest.raises(WriteError) as err, writing(repo):
        pass

    assert str(err.value) == (
        f"refusing to use .clustergen: it is a symlink (to {elsewhere}); clustergen keeps its "
        f"state only in a real directory inside {repo}. Replace the link with a directory "
        "and run again"
    )
    assert list(elsewhere.iterdir()) == []


def test_state_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / ".clustergen").write_text("not a directory\n")

    result = run_clustergen(["init", "--dir", str(tmp_path)])

    assert result.returncode == 1
    assert result.stderr == (
        f"error: .clustergen in {tmp_path} is a file, but clustergen keeps its state in a "
        "directory of that name; move the file away and run again\n"
    )
