"""Ctrl-C and SIGTERM in a process that runs one command (generator/cli.py): each unwinds
as KeyboardInterrupt, and the process ends within STOP_WITHIN seconds of the first,
whatever its clean-up does.

The clean-up after an interrupt waits for what must not be cut short (sops runs, a staging
thread, a write's journal, held_signals.py) and the command line then ignores further
signals, so a clean-up that never ended would leave a process only `kill -9` stops. The
watch started at the first interrupt ends it instead: an error line, the threads' stacks
saved for a bug report, exit 130. A write cut off so is finished or undone by the next
run, as after a crash (write/journal.py).
"""

from __future__ import annotations

import _thread
import faulthandler
import os
import time
from typing import NoReturn

from generator.usercache import user_cache_root

STOP_WITHIN = 60.0  # seconds from the first interrupt to the end of the process
INTERRUPTED = 130  # the exit status of a run ended by Ctrl-C

_watching = False


def interrupted(signum: int, _frame: object) -> NoReturn:
    """The handler for SIGINT and SIGTERM: start the watch (once), then unwind."""
    watch()
    raise KeyboardInterrupt


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
        f"error: clustergen did not stop within {seconds:.0f} s of the interrupt and stops "
        "now; the next run finishes or undoes a write it cut off. This is a bug: please "
        f"report it with what you ran ({where})\n"
    )
    os.write(2, message.encode())
    os._exit(INTERRUPTED)


def _save_stacks() -> str | None:
    """Every thread's stack in a new file under the user cache; its path, or None."""
    cache = user_cache_root()
    if cache is None:
        return None
    path = cache / f"stuck-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
    try:
        cache.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        return None
    try:
        faulthandler.dump_traceback(fd, all_threads=True)
    finally:
        os.close(fd)
    return str(path)
