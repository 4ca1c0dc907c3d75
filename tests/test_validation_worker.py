"""The validation worker: requests run in a forked child and come back as plain data, and
whatever goes wrong with the child leaves the parent to run them itself.

A pytest-xdist worker runs execnet's thread, so the worker is only ever forked from a
fresh interpreter here (a script in a child process), as `clustergen configure` does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from generator import validation_worker
from tests.process import clean_env, clustergen_in_process, run_clustergen
from tests.workdirs import configured_sample


def _script(body: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `body` in a fresh interpreter (one thread, as `clustergen` starts)."""
    code = "from generator import validation_worker as w\nimport os, sys\n" + textwrap.dedent(body)
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=clean_env(),
        cwd=Path(__file__).parent.parent,
    )


def test_a_request_runs_in_the_child_and_its_result_comes_back() -> None:
    done = _script(
        """
        assert w.start() and w.running()
        child = w.submit("os:getpid").result()
        assert child != os.getpid(), "ran in the parent"
        assert w.submit("json:loads", '{"a": [1, 2.0, true]}').result() == {"a": [1, 2.0, True]}
        # Loaded in the child, not here: what the parent never pays for.
        assert "jsonschema" not in sys.modules
        w.stop()
        assert not w.running()
        print("ok")
        """
    )
    assert done.stdout.strip() == "ok", done.stderr


def test_a_failure_in_the_child_is_raised_by_the_parent_running_it_again() -> None:
    done = _script(
        """
        import json
        w.start()
        try:
            w.submit("json:loads", "not json").result()
        except json.JSONDecodeError as err:
            print("raised here:", type(err).__name__)
        # The worker stays usable after a failed request.
        assert w.submit("os:getpid").result() != os.getpid()
        w.stop()
        """
    )
    assert done.stdout.strip() == "raised here: JSONDecodeError", done.stderr


def test_posts_run_in_order_before_the_next_request_without_answers() -> None:
    done = _script(
        """
        import time
        w.start()
        w.post("json:loads", "not json")  # fails in the child: nothing comes back
        started = time.monotonic()
        w.post("builtins:len", "x" * 3_000_000)  # more than the pipe holds: queued
        assert time.monotonic() - started < 1, "post waited for the worker"
        w.post("os:getpid")  # its answer is never sent
        assert w.submit("json:loads", "[1]").result() == [1]
        assert w.submit("os:getpid").result() != os.getpid()
        w.stop()
        w.post("os:getpid")  # no worker: nothing
        print("ok")
        """
    )
    assert done.stdout.strip() == "ok", done.stderr


def test_a_dead_child_means_the_parent_runs_the_request_itself() -> None:
    done = _script(
        """
        import signal
        w.start()
        os.kill(w._worker.pid, signal.SIGKILL)
        os.waitpid(w._worker.pid, 0)
        assert w.submit("os:getpid").result() == os.getpid()
        assert not w.running()  # a dead worker is not asked again
        print("ok")
        """
    )
    assert done.stdout.strip() == "ok", done.stderr


def test_an_interrupted_wait_stops_the_busy_child() -> None:
    done = _script(
        """
        import signal, threading
        w.start()
        pid = w._worker.pid
        pending = w.submit("time:sleep", 30)
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
        try:
            pending.result()
        except KeyboardInterrupt:
            pass
        try:
            os.kill(pid, 0)
            print("child alive")
        except ProcessLookupError:
            print("child gone")
        """,
        timeout=20,
    )
    assert done.stdout.strip() == "child gone", done.stderr


def test_no_worker_where_another_thread_runs() -> None:
    # This very process: pytest-xdist's thread, or the one started here.
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not validation_worker.start()
        assert not validation_worker.running()
        assert validation_worker.submit("os:getpid").result() == os.getpid()
    finally:
        stop.set()
        other.join()


def test_without_a_worker_a_request_runs_at_once_in_this_process() -> None:
    calls: list[str] = []
    sys.modules[__name__].record = calls.append  # type: ignore[attr-defined]
    try:
        pending = validation_worker.submit(f"{__name__}:record", "now")
        assert calls == ["now"]  # before result(): the caller may change the arguments next
        assert pending.result() is None
    finally:
        del sys.modules[__name__].record  # type: ignore[attr-defined]


@pytest.mark.slow
def test_configure_blocked_through_the_worker_reads_as_in_process(tmp_path: Path) -> None:
    """The same findings, the same report, whether the tree validated in the worker (a
    process of its own) or in-process; and no process of the run outlives it (its
    descriptors would hold the captured pipes open, and the run would not return)."""
    reports = []
    for name, run in (("worker", run_clustergen), ("in-process", clustergen_in_process)):
        workdir = configured_sample(tmp_path / name)
        mine = workdir / "kubernetes/apps/default/mine.yaml"
        mine.parent.mkdir(parents=True, exist_ok=True)
        mine.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: mine\ndata: [1]\n")
        done = run(["configure"], cwd=workdir)
        assert done.returncode == 1, done.stderr
        reports.append(done.stderr)
    assert "kubernetes/apps/default/mine.yaml" in reports[0]
    assert "nothing was written" in reports[0]
    assert reports[0] == reports[1]


def test_stop_reaps_an_idle_child() -> None:
    done = _script(
        """
        import signal
        w.start()
        pid = w._worker.pid
        w.submit("os:getpid").result()
        w.stop()
        try:
            os.kill(pid, 0)
            print("alive")
        except ProcessLookupError:
            print("reaped")
        """
    )
    assert done.stdout.strip() == "reaped", done.stderr
