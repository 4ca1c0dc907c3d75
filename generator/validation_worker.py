"""configure's validation in a second process, forked before configure imports anything.

Validation needs jsonschema and every check module (~0.1 s of CPU to import), then the
schema of cluster.yaml and the checks of the tree, all on one core while the other
waits for sops and kubectl. `configure` forks this worker first thing when the run is
likely to validate (validation_scope.may_validate), so the child loads all of that while
the parent imports the pipeline and renders; the parent then hands it cluster.yaml's
schema check, work ahead on the files as they render (`post`), and the tree as it will
be written, and reads back plain data (findings).

Only the command line starts a worker, for `configure` in its own process
(`cli.main()` with no argv); everything else, tests calling `cli.main(argv)` included,
runs the same functions in-process. Anything that goes wrong with the worker (it could
not fork, died, sent something unreadable) only means the parent runs the function
itself: the result is the same, only slower. A failure inside the function is never
taken from the child; the parent runs the function again and raises what it raises,
with its usual message; only our own errors (ClusterGenError), which say the same
wherever they are raised, come back from the child as they are.

Frames on the pipes: an 8-byte big-endian length, then a pickle. Requests are
`("module:function", args, kwargs, answer, first)`; answers, for requests that want one,
`("returned", result)`, `("raised", error)` (one of our errors, ClusterGenError) or
`("failed", None)`. A request without an answer (`post`) is work ahead of time: queued
without waiting for the pipe, dropped with the worker; one posted `first` runs before the
posts still waiting (never before a request that wants an answer). Both ends are this program,
forked from one process: nothing else writes these pipes.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import os
import pickle
import select
import signal
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from generator.errors import ClusterGenError
from generator.forked import can_fork, detach, fork
from generator.held_signals import deferred_signals
from generator.interrupts import INTERRUPTED

# What the child loads while the parent imports and renders, in the order the parent
# needs it: the schema of cluster.yaml in its validator (jsonschema with it), the checks
# ahead, the tree's checks, what the tree's request holds (its decrypt).
WARM_UP = (
    "generator.config.schema:warm_up",
    "generator.validate.ahead",
    "generator.validate.tree",
    "generator.secrets.known_plaintext",
)
# How long a stopped worker may take to unwind (a kubectl build it waits for has its own
# timeout, generator/validate/kubectl.py KUBECTL_TIMEOUT) before SIGKILL.
STOP_TIMEOUT = 90.0
_LENGTH = struct.Struct(">Q")
# How a request ended, first in its answer.
_RETURNED, _RAISED, _FAILED = "returned", "raised", "failed"
# The request pipe's size asked for (Linux's default limit for an unprivileged process).
PIPE_SIZE = 1 << 20


class _Gone(Exception):
    """The worker cannot answer: the parent runs the request itself, and the rest."""


class _Failed(Exception):
    """The request failed in the worker other than with one of our errors: the parent
    runs it again itself, to raise what it raises there."""


class _Worker:
    """The parent's end: requests in order, one waiting for its answer at a time. The
    request pipe does not block: what it cannot take yet waits in `_outbox` until the
    next request, so a `post` never holds up the caller."""

    def __init__(self, pid: int, requests: int, answers: int) -> None:
        self.pid = pid
        self._requests = requests
        self._answers = answers
        self._outbox = b""
        self.busy = False
        os.set_blocking(requests, False)

    def ask(self, target: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        frame = _frame((target, args, kwargs, True, False))
        self.busy = True
        try:
            self._send(frame, block=True)
        except OSError as err:
            raise _Gone from err

    def post(self, target: str, args: tuple[Any, ...], kwargs: dict[str, Any], first: bool) -> None:
        try:
            self._send(_frame((target, args, kwargs, False, first)), block=False)
        except OSError as err:
            raise _Gone from err

    def _send(self, frame: bytes, *, block: bool) -> None:
        data = memoryview(self._outbox + frame)
        while data:
            try:
                data = data[os.write(self._requests, data) :]
            except BlockingIOError:
                if not block:
                    break
                _wait_for(self._requests, select.POLLOUT)
        self._outbox = bytes(data)

    def answer(self) -> Any:
        try:
            frame = _read_frame(self._answers)
        except OSError as err:
            raise _Gone from err
        self.busy = False
        if frame is None:
            raise _Gone
        try:
            outcome, result = pickle.loads(frame)
        except Exception as err:  # torn or unreadable: ours to redo
            raise _Gone from err
        if outcome == _RAISED:
            raise result
        if outcome != _RETURNED:
            raise _Failed
        return result

    def finish(self) -> None:
        """Close the request pipe: the child, at its end, ends on its own."""
        requests, self._requests = self._requests, -1
        self._outbox = b""  # posts not sent yet: nobody waits for them any more
        if requests >= 0:
            with contextlib.suppress(OSError):
                os.close(requests)

    def stop(self) -> int | None:
        """Close the pipes and stop the child as a configure is stopped (SIGTERM: it
        unwinds, kubectl's copies of the tree removed, the builds ahead waited for), then
        reap it; SIGKILL only past STOP_TIMEOUT. Ctrl-C and SIGTERM are held back
        meanwhile (raised again after): a child left running would outlive configure.
        Its exit code, None when unknown."""
        self.finish()
        with contextlib.suppress(OSError):
            os.close(self._answers)
        with deferred_signals():
            _signal(self.pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT
            while not (ended := _reaped(self.pid))[0]:
                if time.monotonic() >= deadline:
                    _signal(self.pid, signal.SIGKILL)
                    with contextlib.suppress(ChildProcessError):
                        os.waitpid(self.pid, 0)
                    return None
                time.sleep(0.002)
            return ended[1]


def _reaped(pid: int) -> tuple[bool, int | None]:
    """(whether the child has ended, its exit code: None when not ours to know)."""
    try:
        reaped, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True, None
    return (False, None) if reaped == 0 else (True, os.waitstatus_to_exitcode(status))


_worker: _Worker | None = None  # takes requests
_ending: _Worker | None = None  # told there are no more (`finish`), not reaped yet


def start() -> bool:
    """Fork the worker for this process, once; False when this process cannot fork safely
    (another thread runs) or the fork failed: requests then run in-process."""
    global _worker
    if _worker is not None:
        return True
    if not can_fork():
        return False
    requests_read, requests_write = os.pipe()
    answers_read, answers_write = os.pipe()
    # Room for what configure posts while it renders (~0.5 MB of files), where Linux
    # lets a pipe grow: posting then never waits for the worker.
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(requests_write, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    try:
        pid = fork(lambda: _serve(*detach(requests_read, answers_write)))
    except OSError:
        for fd in (requests_read, requests_write, answers_read, answers_write):
            os.close(fd)
        return False
    os.close(requests_read)
    os.close(answers_write)
    _worker = _Worker(pid, requests_write, answers_read)
    return True


def finish() -> None:
    """No more requests for this process's worker, if it has one: it ends on its own, its
    cleanup (kubectl's copies of the tree) alongside what the caller does next, and
    `stop` then finds it ended. From here on requests run in-process, as without one."""
    global _worker, _ending
    worker, _worker = _worker, None
    if worker is not None:
        worker.finish()
        _ending = worker


def stop() -> int | None:
    """End this process's worker, if it has one (idempotent); its exit code, None when
    there was none or it is not known."""
    global _worker, _ending
    worker = _worker or _ending
    _worker = _ending = None
    return worker.stop() if worker is not None else None


def _stop_gone() -> None:
    """`stop` for a worker that can no longer answer; KeyboardInterrupt when a Ctrl-C or
    SIGTERM ended it: it reached the whole process group, so it is this run's too (even
    before this process has taken it), and the request is not run again here."""
    if stop() == INTERRUPTED:
        raise KeyboardInterrupt


def running() -> bool:
    """Whether requests go to a worker (so this process need not load what it loads)."""
    return _worker is not None


class Pending:
    """A request handed to the worker, or already run here; `result()` gives its value."""

    def __init__(self, target: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._call = (target, args, kwargs)
        self._asked: _Worker | None = None
        self._value: Any = None
        worker = _worker
        if worker is not None and not worker.busy:
            try:
                worker.ask(target, args, kwargs)
                self._asked = worker
                return
            except _Gone:
                _stop_gone()
            except (pickle.PicklingError, TypeError, AttributeError):  # does not pickle
                pass
        # Here and now, as an in-process caller always did: before the caller goes on
        # (and perhaps changes the arguments).
        self._value = _resolve(target)(*args, **kwargs)

    def result(self) -> Any:
        asked, self._asked = self._asked, None
        if asked is None:
            return self._value
        try:
            return asked.answer()
        except (_Gone, _Failed) as err:
            if isinstance(err, _Gone) and asked is _worker:
                _stop_gone()
            target, args, kwargs = self._call
            return _resolve(target)(*args, **kwargs)
        except ClusterGenError:
            raise  # one of ours, raised in the child: the worker itself is well
        except BaseException:
            if asked is _worker:  # interrupted while waiting: the child is mid-request
                stop()
            raise


def post(target: str, *args: Any, **kwargs: Any) -> None:
    """Hand `target` to the worker to run when it gets to it, wanting no answer (work
    that makes a later request faster); nothing without a worker, or while one waits
    for an answer. What it raises in the worker is ignored."""
    _post(target, args, kwargs, first=False)


def post_first(target: str, *args: Any, **kwargs: Any) -> None:
    """`post`, run before the posts still waiting in the worker (never before a request
    that wants an answer): work that starts something long, such as kubectl's builds."""
    _post(target, args, kwargs, first=True)


def _post(target: str, args: tuple[Any, ...], kwargs: dict[str, Any], *, first: bool) -> None:
    worker = _worker
    if worker is None or worker.busy:
        return
    try:
        worker.post(target, args, kwargs, first)
    except _Gone:
        stop()


def submit(target: str, *args: Any, **kwargs: Any) -> Pending:
    """Run `target` ("module:function", a module-level function whose arguments and
    result pickle) in the worker if this process has one, else here at once. Named,
    not passed, so the parent never imports what only the child needs."""
    return Pending(target, args, kwargs)


def _resolve(target: str) -> Callable[..., Any]:
    module, _, name = target.partition(":")
    function: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return function


def _serve(requests: int, answers: int) -> None:
    """The child: load what validation needs (WARM_UP, whenever no request waits) and
    answer requests until the parent closes its end or stops it. The first Ctrl-C
    (it reaches the whole process group) or SIGTERM (the parent's stop) unwinds it, the
    next ones are ignored so that nothing cuts the unwinding short; it ends once its own
    threads (builds ahead) have."""
    global _worker
    _worker = None
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _unwind)
    warm_up = list(WARM_UP)
    queue: deque[_Request] = deque()  # read, not run yet
    try:
        while True:
            # What the parent has written so far, without waiting for more.
            while _wait_for(requests, select.POLLIN, timeout=0):
                if (request := _read_request(requests)) is None:
                    return
                queue.append(request)
            if not queue:
                if warm_up:  # between requests, what is still to load
                    module, _, name = warm_up.pop(0).partition(":")
                    loaded = importlib.import_module(module)
                    if name:
                        getattr(loaded, name)()
                    continue
                if (request := _read_request(requests)) is None:
                    return
                queue.append(request)
            target, args, kwargs, wanted, _ = _next(queue)
            answer = _run(target, args, kwargs)
            if wanted:
                _write_all(answers, answer)
    except OSError:
        pass  # the parent is gone (an interrupt goes on up: the child's exit code says it)
    finally:
        # Ending for any reason (the parent closed its end, or stopped it): a signal now
        # must not cut short the wait for its threads, which clean up after kubectl.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, _unwinding)
        for thread in threading.enumerate():
            if thread is not threading.current_thread():
                thread.join()


# (target, args, kwargs, wants an answer, goes before the posts waiting)
_Request = tuple[str, tuple[Any, ...], dict[str, Any], bool, bool]


def _read_request(fd: int) -> _Request | None:
    """The next request, or None at the end of the pipe or for one that does not unpickle
    (the parent then runs what it asked itself)."""
    if (frame := _read_frame(fd)) is None:
        return None
    try:
        request: _Request = pickle.loads(frame)
    except Exception:
        return None
    return request


def _next(queue: deque[_Request]) -> _Request:
    """The first `post_first` ahead of any request that wants an answer, else the oldest."""
    for index, request in enumerate(queue):
        if request[3]:
            break
        if request[4]:
            del queue[index]
            return request
    return queue.popleft()


def _run(target: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    """The answer frame to one request: its result; one of our errors, which says the
    same wherever it is raised (a sops failure must not run sops twice); or a failure
    the parent reproduces itself."""
    try:
        return _frame((_RETURNED, _resolve(target)(*args, **kwargs)))
    except ClusterGenError as err:
        with contextlib.suppress(Exception):
            frame = _frame((_RAISED, err))
            pickle.loads(frame[_LENGTH.size :])  # raised in the parent as it is here
            return frame
    except Exception:
        pass
    return _frame((_FAILED, None))


def _unwind(signum: int, _frame: object) -> None:
    # Later ones are noted and dropped: not SIG_IGN, which the programs started while
    # unwinding would inherit (a kubectl that Ctrl-C could not stop).
    for each in (signal.SIGINT, signal.SIGTERM):
        signal.signal(each, _unwinding)
    raise KeyboardInterrupt


def _unwinding(signum: int, _frame: object) -> None:
    """The child is ending already."""


def _wait_for(fd: int, event: int, timeout: int | None = None) -> bool:
    """Whether `fd` is ready for `event` (select.POLLIN/POLLOUT) within `timeout` ms
    (None: until it is); poll, unlike select, takes any descriptor number."""
    poller = select.poll()
    poller.register(fd, event)
    return bool(poller.poll(timeout))


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, signum)


def _frame(message: object) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_frame(fd: int) -> bytes | None:
    """One frame, or None at the end of the pipe (also in the middle of a frame)."""
    head = _read_exactly(fd, _LENGTH.size)
    if head is None:
        return None
    return _read_exactly(fd, _LENGTH.unpack(head)[0])


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks: list[bytes] = []
    left = size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
