"""The validation worker: requests run in a forked child and come back as plain data, and
whatever goes wrong with the child leaves the parent to run them itself.

A pytest-xdist worker runs execnet's thread, so the worker is only ever forked from a
fresh interpreter here (a script in a child process), as `clustergen configure` does.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from generator import validation_worker
from generator.validation_scope import may_validate
from tests.process import clean_env, clustergen_in_process
from tests.workdirs import configured_sample


def _script(body: str, timeout: float = 60) -> str:
    """Run `body` in a fresh interpreter (one thread, as `clustergen` starts), which must
    succeed; its stdout."""
    code = "from generator import validation_worker as w\nimport os, sys\n" + textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=clean_env(),
        cwd=Path(__file__).parent.parent,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


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
    assert done == "ok"


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
    assert done == "raised here: JSONDecodeError"


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
    assert done == "ok"


def test_a_post_first_runs_before_the_posts_waiting_never_before_a_request(
    tmp_path: Path,
) -> None:
    log = tmp_path / "log"
    done = _script(
        f"""
        def note(what):
            with open({str(log)!r}, "a") as out:
                out.write(what + "\\n")
        w.start()
        w.submit("time:sleep", 0).result()  # loaded: what follows queues up behind a sleep
        w.post("time:sleep", 0.5)
        for n in range(3):
            w.post("__main__:note", f"post {{n}}")
        w.post_first("__main__:note", "first")
        assert w.submit("__main__:note", "asked").result() is None
        w.post_first("__main__:note", "after the request")
        w.submit("os:getpid").result()
        w.stop()
        """
    )
    assert done == ""
    assert log.read_text().split("\n")[:-1] == [
        "first", "post 0", "post 1", "post 2", "asked", "after the request"
    ]  # fmt: skip


def test_stop_waits_for_what_the_worker_started(tmp_path: Path) -> None:
    """The builds ahead run in a thread of the worker: stopping it waits for them to end
    (and clean up), however the worker learns it is done."""
    finished = tmp_path / "finished"
    done = _script(
        f"""
        import threading, time
        def slow():
            def work():
                time.sleep(0.3)  # still asleep when stop comes, milliseconds later
                open({str(finished)!r}, "w").write("yes")
            threading.Thread(target=work, daemon=True).start()
        w.start()
        w.post("__main__:slow")
        w.submit("os:getpid").result()  # the post has run: its thread is working
        w.stop()
        print(os.path.exists({str(finished)!r}))
        """
    )
    assert done == "True"


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
    assert done == "ok"


def test_a_child_an_interrupt_ended_ends_the_request_as_one() -> None:
    # Ctrl-C reaches the whole process group, the child first here: the request is not
    # run again in this process (a kubectl started so would never get the signal).
    done = _script(
        """
        import signal, time
        w.start()
        w.submit("os:getpid").result()  # ready, waiting for requests
        os.kill(w._worker.pid, signal.SIGINT)
        time.sleep(0.2)
        try:
            w.submit("os:getpid").result()
            print("ran it here")
        except KeyboardInterrupt:
            print("interrupted", w.running())
        """
    )
    assert done == "interrupted False"


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
    assert done == "child gone"


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


def test_one_of_our_errors_comes_back_as_it_is_without_a_second_run(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    done = _script(
        f"""
        from generator.errors import SecretsError
        def fails():
            with open({str(runs)!r}, "a") as log:
                log.write(f"{{os.getpid()}}\\n")
            raise SecretsError("sops could not decrypt it")
        w.start()
        try:
            w.submit("__main__:fails").result()
        except SecretsError as err:
            print(err)
        w.stop()
        """
    )
    assert done == "sops could not decrypt it"
    ran = runs.read_text().split()
    assert len(ran) == 1 and int(ran[0]) != os.getpid()


def _traced_configure(workdir: Path, trace: Path) -> subprocess.CompletedProcess[str]:
    """`clustergen configure` in `workdir`, as its own process, writing to `trace` which
    requests went to the worker: [[target, asked], ...]."""
    script = (
        "import atexit, json, sys\n"
        "from generator import validation_worker as w\n"
        "asked = []\n"
        "original = w.Pending.__init__\n"
        "def init(self, target, args, kwargs):\n"
        "    original(self, target, args, kwargs)\n"
        "    asked.append([target, self._asked is not None])\n"
        "w.Pending.__init__ = init\n"
        f"atexit.register(lambda: open({str(trace)!r}, 'w').write(json.dumps(asked)))\n"
        "sys.argv = ['clustergen', 'configure']\n"
        "from generator.cli import main\n"
        "main()\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=clean_env(CI="true"),
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_configure_blocked_through_the_worker_reads_as_in_process(tmp_path: Path) -> None:
    """The same findings, the same report, whether the tree validated in the worker (a
    process of its own) or in-process; and no process of the run outlives it (its
    descriptors would hold the captured pipes open, and the run would not return)."""
    reports = []
    for name in ("worker", "in-process"):
        workdir = configured_sample(tmp_path / name)
        mine = workdir / "kubernetes/apps/default/mine.yaml"
        mine.parent.mkdir(parents=True, exist_ok=True)
        mine.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: mine\ndata: [1]\n")
        if name == "worker":
            trace = tmp_path / "trace.json"
            done = _traced_configure(workdir, trace)
            asked = dict(json.loads(trace.read_text()))
            assert asked == {
                "generator.config.schema:validate": True,
                "generator.validate.ahead:validate_tree": True,
            }
        else:
            done = clustergen_in_process(["configure"], cwd=workdir)
        assert done.returncode == 1, done.stderr
        reports.append(done.stderr)
    assert "kubernetes/apps/default/mine.yaml" in reports[0]
    assert "nothing was written" in reports[0]
    assert reports[0] == reports[1]


def test_a_configure_with_nothing_to_do_forks_no_worker(tmp_path: Path) -> None:
    workdir = configured_sample(tmp_path / "w")
    # Validates, leaving the stamp (in this process: setup, not what is tested).
    assert clustergen_in_process(["configure"], cwd=workdir).returncode == 0
    trace = tmp_path / "trace.json"
    done = _traced_configure(workdir, trace)
    assert done.returncode == 0, done.stderr
    assert json.loads(trace.read_text()) == []  # no schema check: the warm path
    # What decided it, before anything was loaded: no input newer than the last validation.
    inputs = [workdir / "cluster.yaml", workdir / "cluster.secrets.sops.yaml"]
    assert not may_validate(workdir, inputs)
    os.utime(workdir / "cluster.yaml")
    assert may_validate(workdir, inputs)
    # A run that finds the tree validated as it is (an editor saved cluster.yaml unchanged)
    # brings the record up to date: the next runs fork no worker again.
    assert "validation skipped" in clustergen_in_process(["configure"], cwd=workdir).stdout
    assert not may_validate(workdir, inputs)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not on PATH")
def test_ctrl_c_while_kubectl_builds_leaves_no_copy_and_no_kubectl(tmp_path: Path) -> None:
    """Ctrl-C reaches the whole process group: the worker unwinds like configure does,
    kubectl's copy of the tree is removed and no kubectl outlives the run."""
    workdir = configured_sample(tmp_path / "w")
    (workdir / "cluster.yaml").touch()  # validates, through the worker
    runtime = tmp_path / "runtime"  # where kubectl's copies go (validate/kubectl.py)
    runtime.mkdir(mode=0o700)
    started, bin_dir = tmp_path / "kubectl-started", tmp_path / "bin"
    bin_dir.mkdir()
    # A kubectl that takes its time, and says when it started: the Ctrl-C follows within
    # milliseconds. (One started just after the Ctrl-C, which it never gets, is waited
    # for: a second, not the 60 s of a hang.)
    (bin_dir / "kubectl").write_text(f"#!/bin/sh\necho $$ >> {started}\nexec sleep 1\n")
    (bin_dir / "kubectl").chmod(0o755)
    env = clean_env(CI="true", XDG_RUNTIME_DIR=str(runtime))
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    run = subprocess.Popen(
        [sys.executable, "-m", "generator", "configure"],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not started.exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert started.exists(), run.communicate()
    os.killpg(run.pid, signal.SIGINT)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 130 and "Traceback" not in err, err
    assert list(runtime.iterdir()) == []
    for pid in started.read_text().split():
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid), 0)


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
    assert done == "reaped"


def test_after_finish_requests_run_here_and_the_child_ends_on_its_own() -> None:
    # The child is still busy with a post when told there is nothing more: a request
    # then runs in this process (no interrupt raised from a child stopped mid-post), and
    # the child ends without being stopped.
    done = _script(
        """
        import time
        w.start()
        pid = w._worker.pid
        w.post("time:sleep", 0.5)
        w.finish()
        assert not w.running()
        here = w.submit("os:getpid").result()
        for _ in range(200):
            if os.waitpid(pid, os.WNOHANG)[0]:
                break
            time.sleep(0.01)
        else:
            print("still running")
        w.stop()
        print("here" if here == os.getpid() else "in the child")
        """
    )
    assert done == "here"
