"""generator/forked.py: forking is interrupt-safe."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# A library's at-fork handler that is running when Ctrl-C comes: the interrupt must wait
# for the fork to be done, then be taken in the parent, and in the child without
# returning into the parent's code.
_PROBE = """
import os, signal, sys
from generator.forked import fork

def handler():
    os.kill(os.getpid(), signal.SIGINT)
    sum(range(1000))  # Python code, where an interrupt let through would be raised

os.register_at_fork(after_in_parent=handler, after_in_child=handler)
try:
    fork(lambda: os._exit(7))  # an interrupt ends the child before this: status 130
except KeyboardInterrupt:
    _, status = os.wait()
    code = os.waitstatus_to_exitcode(status)
    print("the parent was interrupted after the fork; the child exited", code)
    sys.exit(0)
print("no interrupt")
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_an_interrupt_during_a_fork_is_taken_after_it() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout == ("the parent was interrupted after the fork; the child exited 130\n"), (
        done.stderr
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
