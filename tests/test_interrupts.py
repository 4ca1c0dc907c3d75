"""A run of its own process ends within interrupts.STOP_WITHIN of Ctrl-C or SIGTERM, even
when its clean-up never would (generator/interrupts.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]

# `clustergen check` whose clean-up, once interrupted, waits for ever; the watch shortened.
_STUCK = """
import signal, sys, threading
from generator import cli, interrupts
signal.signal(signal.SIGINT, signal.default_int_handler)  # as a shell's foreground job has it
interrupts.STOP_WITHIN = 0.2
def stuck(args):
    try:
        print("running", flush=True)
        threading.Event().wait(60)
    finally:
        threading.Event().wait()  # a clean-up that never ends
cli._cmd_check = stuck
sys.argv = ["clustergen", "check"]
cli.main()
"""


def _start(probe: str, cache: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "XDG_CACHE_HOME": str(cache)},
    )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_clean_up_that_never_ends_is_cut_off(tmp_path: Path, sig: int) -> None:
    proc = _start(_STUCK, tmp_path)
    assert proc.stdout is not None and proc.stdout.readline() == "running\n"
    started = time.monotonic()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert time.monotonic() - started < 10
    assert err.startswith("error: clustergen did not stop within 0.2 s of the interrupt"), err
    assert "Traceback" not in err
    (saved,) = (tmp_path / "clustergen" / "stuck").glob("*.txt")
    assert str(saved) in err
    assert "threading.py" in saved.read_text()  # the main thread's stack, waiting


def test_an_interrupt_that_unwinds_in_time_ends_as_always(tmp_path: Path) -> None:
    probe = _STUCK.replace("threading.Event().wait()  # a clean-up that never ends", "pass")
    env = {"XDG_CACHE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen(
        [sys.executable, "-c", probe],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "running\n"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert (proc.returncode, err) == (130, "interrupted\n")
    assert list((tmp_path / "clustergen").glob("stuck")) == []


_IGNORED = """
import signal, sys, time
from generator import cli
signal.signal(signal.SIGINT, signal.SIG_IGN)  # as `nohup` or a script's `&` starts it
def check(args):
    print("running", flush=True)
    time.sleep(0.3)  # time for the Ctrl-C to arrive
    print("finished")
    return 0
cli._cmd_check = check
sys.argv = ["clustergen", "check"]
cli.main()
"""


def test_a_run_started_with_ctrl_c_ignored_ignores_it(tmp_path: Path) -> None:
    proc = _start(_IGNORED, tmp_path)
    assert proc.stdout is not None and proc.stdout.readline() == "running\n"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert (proc.returncode, out, err) == (0, "finished\n", "")


# Ctrl-C while Python runs a weakref callback (as it does for a module lock of importlib,
# or a temporary directory's finalizer): raised there, it would be printed and lost.
_IN_A_CALLBACK = """
import os, signal, time, weakref
from generator import interrupts
signal.signal(signal.SIGINT, interrupts.interrupted)
class Thing:
    pass
def callback():
    os.kill(os.getpid(), signal.SIGINT)
    sum(range(10000))  # Python code, where the handler runs
thing = Thing()
weakref.finalize(thing, callback)
try:
    del thing  # the callback runs now
    for _ in range(2000):
        time.sleep(0.001)
    print("the interrupt was lost")
except KeyboardInterrupt:
    print("interrupted after the callback")
"""


def test_an_interrupt_inside_a_callback_is_raised_after_it(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _IN_A_CALLBACK],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)},
        check=False,
    )
    assert (done.stdout, done.stderr) == ("interrupted after the callback\n", "")
