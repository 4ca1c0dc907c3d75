"""One writer at a time: an advisory lock on `.clustergen/lock`, and crash recovery under it.

Every command that writes into the working directory (configure, init,
secrets rotate, secrets inventory) runs inside `writing(root)`: it takes the
lock (waiting a few seconds for a running command to finish), then rolls a
write that a crash interrupted forward or back (journal.py). The kernel
drops a flock when its holder exits, however it exits, so a lock is never
stale; the PID in the file only names the holder for the message.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from generator.errors import ClusterGenError
from generator.write.fs import WriteError, os_reason
from generator.write.journal import recover

LOCK_PATH = ".clustergen/lock"
STATE_DIR = ".clustergen"
WAIT_ENV = "CLUSTERGEN_LOCK_WAIT"
DEFAULT_WAIT = 5.0  # seconds
_POLL = 0.1
# The lock's descriptor for each root `writing` holds it for in this process (keep_locked).
_HELD: dict[Path, int] = {}


class LockHeld(ClusterGenError):
    """Another clustergen process is writing in the same directory."""


def state_dir(root: Path, *, create: bool) -> Path:
    """`.clustergen` under root, refused when it is a symlink or not a directory."""
    path = root / STATE_DIR
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        if not create:
            return path
        try:
            path.mkdir()
        except OSError as err:
            raise WriteError(f"cannot create {STATE_DIR}/ in {root}: {os_reason(err)}") from None
        return path
    except OSError as err:
        raise WriteError(f"cannot use {STATE_DIR}/ in {root}: {os_reason(err)}") from None
    if stat.S_ISLNK(mode):
        raise WriteError(
            f"refusing to use {STATE_DIR}: it is a symlink (to {os.readlink(path)}); "
            f"clustergen keeps its state only in a real directory inside {root}. "
            "Replace the link with a directory and run again"
        )
    if not stat.S_ISDIR(mode):
        raise WriteError(
            f"{STATE_DIR} in {root} is a file, but clustergen keeps its state in a "
            f"directory of that name; move the file away and run again"
        )
    return path


@contextlib.contextmanager
def writing(root: Path, wait: float | None = None) -> Iterator[str | None]:
    """Hold the lock for root; yields the one-line report of a recovered write, or None."""
    directory = state_dir(root, create=True)
    lock = directory / "lock"
    held = root.resolve()
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as err:
        raise WriteError(f"cannot open {LOCK_PATH}: {os_reason(err)}") from None
    try:
        _acquire(fd, root, _wait_seconds() if wait is None else wait)
        # The PID only names the holder in the message above; a full disk must not stop us.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _HELD[held] = fd
        yield recover(root)
    finally:
        if _HELD.get(held) == fd:
            del _HELD[held]
        os.close(fd)  # releases the lock, unless a `keep_locked` copy is still open


def keep_locked(root: Path) -> Callable[[], None]:
    """Keep the lock `writing(root)` holds in this process until the returned function is
    called, even when `writing` ends first: for a thread that writes into root, so that an
    interrupt unwinding the main thread never hands the lock over while it still writes.
    A no-op when this process does not hold the lock for root.

    A flock belongs to the open file, which stays locked while any descriptor of it is open
    (flock(2)); the copy is not inherited by child processes."""
    fd = _HELD.get(root.resolve())
    if fd is None:
        return lambda: None
    copy = os.dup(fd)
    return lambda: os.close(copy)


def _acquire(fd: int, root: Path, wait: float) -> None:
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                break
            time.sleep(_POLL)
    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
    raise LockHeld(
        f"another clustergen (PID {holder}) is writing in {root} and holds {LOCK_PATH}; "
        "wait for it to finish, then run again"
    )


def _wait_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get(WAIT_ENV, DEFAULT_WAIT)))
    except ValueError:
        return DEFAULT_WAIT
