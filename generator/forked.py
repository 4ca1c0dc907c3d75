"""What a forked helper process of ours needs: whether forking is safe here, and, in the
child, letting go of everything inherited but its own pipes.

Used by the template compile worker (generator/render/precompile.py) and the validation
worker (generator/validation_worker.py).
"""

from __future__ import annotations

import fcntl
import gc
import os
import signal
import threading
from collections.abc import Callable

from generator.interrupts import INTERRUPTED

# What the command line turns into KeyboardInterrupt (generator/cli.py).
_INTERRUPTS = {signal.SIGINT, signal.SIGTERM}


def can_fork() -> bool:
    """`os.fork` exists and no other thread runs, Python's or a library's (a forked child
    would inherit the locks such a thread holds, never to be released)."""
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1  # Linux lists every thread
    except OSError:  # no /proc (macOS): Python's count is what is known
        return True


def fork(child: Callable[[], object]) -> int:
    """Fork a child that runs `child()` and exits, never returning into the caller's
    frames: status 0 once it returns, INTERRUPTED when KeyboardInterrupt ended it, else 1.
    Returns the child's pid; OSError as os.fork.

    Ctrl-C and SIGTERM are held back across the fork. Python runs the at-fork handlers of
    its libraries around it (logging's lock, for one): an interrupt raised inside one is
    printed as an ignored exception's traceback and leaves its lock as it was. In the
    parent, one that came meanwhile is taken right after the fork; in the child, inside
    `child`."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _INTERRUPTS)
    try:
        pid = os.fork()
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        raise
    if pid == 0:
        status = 1
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
            child()
            status = 0
        except KeyboardInterrupt:
            status = INTERRUPTED  # the parent can tell an interrupt from a failure
        finally:
            os._exit(status)
    signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    return pid


def detach(*keep: int) -> tuple[int, ...]:
    """In the child: close every descriptor but `keep` (its pipe ends), with 0, 1 and 2 on
    /dev/null; returns `keep`'s numbers now, in order. Inherited, `.clustergen/lock` would
    stay locked, and a caller's pipe on stdout open, as long as a child lives on after
    the parent."""
    # Objects made before the fork may own descriptors closed here: never collected in
    # the child, none of them closes a number the child opens later.
    gc.freeze()
    moved = tuple(fcntl.fcntl(fd, fcntl.F_DUPFD, 3) if fd <= 2 else fd for fd in keep)
    low = 0
    for fd in sorted(set(moved)):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, _open_max())
    null = os.open(os.devnull, os.O_RDWR)  # 0: the lowest number free
    for fd in (1, 2):
        os.dup2(null, fd)
    return moved


def _open_max() -> int:
    """Past the highest descriptor number this process may hold (as subprocess finds it)."""
    try:
        return max(256, os.sysconf("SC_OPEN_MAX"))
    except (OSError, ValueError):
        return 256
