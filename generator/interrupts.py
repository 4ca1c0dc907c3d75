"""Ctrl-C and SIGTERM in a process that runs one command (generator/cli.py): each unwinds
as KeyboardInterrupt, raised where it is safe, and the process ends within STOP_WITHIN
seconds of the first, whatever its clean-up does.

Python runs a signal's handler between any two bytecodes of the main thread. Raised inside
the interpreter's import machinery, a weakref or at-fork callback, or the standard
library's lock handling, an interrupt is printed as an ignored exception's traceback and
lost, or leaves a lock held that another thread then waits on for ever. There it is put
off: the signal comes again a few milliseconds later, until the main thread is in code
that may be interrupted (ours, a library's, or one of the standard library's waits).

The clean-up after an interrupt waits for what must not be cut short (sops runs, a staging
thread, a write's journal, held_signals.py) and the command line then ignores further
signals, so a clean-up that never ended would leave a process only `kill -9` stops. The
watch started at the first interrupt ends it instead: an error line, the threads' stacks
saved for a bug report, exit 130. A write cut off so is finished or undone by the next
run, as after a crash (write/journal.py).
"""

from __future__ import annotations

import _thread
import contextlib
import faulthandler
import os
import signal
import threading
import time
from types import FrameType

from generator.usercache import private_dir, user_cache_root

STOP_WITHIN = 60.0  # seconds from the first interrupt to the end of the process
INTERRUPTED = 130  # the exit status of a run ended by Ctrl-C

RETRY_AFTER = 0.005  # seconds before an interrupt put off comes again
# Modules whose code an interrupt must not be raised inside ...
_UNSAFE_MODULES = frozenset(
    {
        "importlib._bootstrap",
        "importlib._bootstrap_external",
        "logging",
        "threading",
        "weakref",
        "_weakrefset",
        "queue",
        "concurrent.futures._base",
        "concurrent.futures.thread",
    }
)
# ... but for their waits, which expect it (each restores its lock as it unwinds).
_WAITS = frozenset(
    {
        ("threading", "wait"),  # Condition.wait, Event.wait
        ("threading", "_wait_for_tstate_lock"),  # Thread.join
        ("queue", "get"),
        ("concurrent.futures._base", "result"),
        ("concurrent.futures._base", "exception"),
    }
)
_OURS = "generator."

_watching = False


def interrupted(signum: int, frame: FrameType | None) -> None:
    """The handler for SIGINT and SIGTERM: start the watch (once), then unwind with
    KeyboardInterrupt, or, where that is not safe, have the signal come again."""
    watch()
    if _safe_to_raise(frame):
        raise KeyboardInterrupt
    _thread.start_new_thread(_again, (signum, threading.main_thread().ident))


def _safe_to_raise(frame: FrameType | None) -> bool:
    """Whether the main thread, stopped at `frame`, may unwind from there: the innermost
    of our frames, a standard-library wait, or an unsafe module decides."""
    while frame is not None:
        module = str(frame.f_globals.get("__name__", ""))
        if (module, frame.f_code.co_name) in _WAITS or module.startswith(_OURS):
            return True
        if module in _UNSAFE_MODULES or frame.f_code.co_filename.startswith("<frozen importlib"):
            return False
        frame = frame.f_back
    return True


def _again(signum: int, main: int | None) -> None:
    time.sleep(RETRY_AFTER)
    if main is not None:
        with contextlib.suppress(OSError):  # the main thread has ended meanwhile
            signal.pthread_kill(main, signum)


def watch() -> None:
    """Start the watch, once per process. A bare thread of the `_thread` module: a signal
    handler may run while the main thread holds `threading`'s own locks."""
    global _watching
    if not _watching:
        _watching = True
        _thread.start_new_thread(_end_after, (STOP_WITHIN,))


def _end_after(seconds: float) -> None:
    time.sleep(seconds)
    saved = _save_stacks()
    where = f"their stacks are in {saved}" if saved else "no file could hold their stacks"
    message = (
        f"error: clustergen did not stop within {seconds:g} s of the interrupt and stops "
        "now; the next run finishes or undoes a write it cut off. This is a bug: please "
        f"report it with what you ran ({where})\n"
    )
    os.write(2, message.encode())
    os._exit(INTERRUPTED)


def _save_stacks() -> str | None:
    """Every thread's stack in a new file under the user cache (`stuck/`); its path, or
    None."""
    root = user_cache_root()
    # A subdirectory of its own, as every cache of ours: private_dir checks the directory
    # it is given, and the cache root may have been made by anything with any mode.
    cache = private_dir(root / "stuck") if root is not None else None
    if cache is None:
        return None
    path = cache / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        return None
    try:
        faulthandler.dump_traceback(fd, all_threads=True)
    finally:
        os.close(fd)
    return str(path)
