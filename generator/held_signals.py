"""Ctrl-C and SIGTERM held back while something must not be cut short: a write whose
journal and tree disagree (generator/write/journal.py), the wait for the validation
worker to end (generator/validation_worker.py)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

_DEFERRED = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def deferred_signals(on_signal: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold SIGINT/SIGTERM back (for the `with` block); one that came
    meanwhile is raised again at the end.

    The main thread blocks them, and its Python handlers only note them: the kernel may
    hand a signal to any thread that does not block it (a worker thread that is still
    exiting, say), and Python then runs the handler in the main thread all the same.
    `on_signal` is called (in the main thread) for each one noted, e.g. to cut short
    what the block waits for.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # Python handlers can be set from the main thread only; it takes the signals
        return
    noted: list[int] = []

    def note(signum: int, _frame: object) -> None:
        noted.append(signum)
        if on_signal is not None:
            on_signal()

    handlers = {signum: signal.signal(signum, note) for signum in _DEFERRED}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _DEFERRED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)  # a pending one is noted now
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        if noted:
            signal.raise_signal(noted[0])
