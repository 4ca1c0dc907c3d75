"""File operations inside the output root that never follow a symlink.

Every directory on the way to a target is opened component by component with
O_NOFOLLOW, and files are created, renamed and removed relative to that open
directory: a directory swapped for a symlink after planning (during
validation, say) is refused at write time instead of redirecting the write
outside the repository. Errors from the OS become `WriteError`, naming the
path and the OS reason.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import stat
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath

from generator.errors import ClusterGenError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# fsyncs in flight at once: the filesystem commits concurrent ones together (ext4: one
# journal commit for many files), where one after the other each waits for its own.
_SYNC_THREADS = 16


class WriteError(ClusterGenError):
    """The disk refused a write (full, read-only, permissions, something in the way)."""


def os_reason(err: OSError) -> str:
    """`No space left on device (ENOSPC)`: the OS's words and the errno name."""
    code = err.errno or 0
    name = errno.errorcode.get(code, str(code))
    return f"{os.strerror(code)} ({name})"


def write_error(rel: str, err: OSError, action: str = "write") -> WriteError:
    return WriteError(f"cannot {action} {rel}: {os_reason(err)}")


def symlinked_directory(root: Path, rel_dir: str, target: str) -> WriteError:
    return WriteError(
        f"refusing to write through {rel_dir}: it is a symlink (to {target}); "
        f"clustergen writes only into real directories inside {root}. "
        "Replace the link with a directory and run again"
    )


class OutputRoot:
    """Open directories under `root`, cached; use as a context manager to close them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        try:
            self._root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as err:
            raise WriteError(f"cannot open the output directory {root}: {os_reason(err)}") from None
        self._fds: dict[str, int] = {"": self._root_fd}

    def __enter__(self) -> OutputRoot:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def dir_fd(self, rel_dir: str, *, create: list[str] | None = None) -> int:
        """An fd of the real directory `rel_dir` ("" is the root).

        Missing directories are made when `create` is a list (each one made is
        appended to it, parents first); otherwise FileNotFoundError.
        """
        if rel_dir in self._fds:
            return self._fds[rel_dir]
        parent, name = _split(rel_dir)
        parent_fd = self.dir_fd(parent, create=create)
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
        except FileNotFoundError:
            if create is None:
                raise
            try:
                os.mkdir(name, 0o755, dir_fd=parent_fd)
            except OSError as err:
                raise write_error(rel_dir, err, "create directory") from None
            create.append(rel_dir)
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
        except OSError as err:
            raise self._not_a_directory(rel_dir, parent_fd, name, err) from None
        self._fds[rel_dir] = fd
        return fd

    def _not_a_directory(self, rel_dir: str, parent_fd: int, name: str, err: OSError) -> Exception:
        try:
            mode = os.lstat(name, dir_fd=parent_fd).st_mode
        except OSError:
            mode = 0
        if stat.S_ISLNK(mode):
            return symlinked_directory(self.root, rel_dir, os.readlink(name, dir_fd=parent_fd))
        if mode and not stat.S_ISDIR(mode):
            return WriteError(
                f"cannot write into {rel_dir}: a file is where clustergen needs a directory; "
                "move it away and run again"
            )
        return write_error(rel_dir, err, "open directory")

    def split(self, rel: str, *, create: list[str] | None = None) -> tuple[int, str]:
        """(fd of rel's directory, rel's name)."""
        parent, name = _split(rel)
        return self.dir_fd(parent, create=create), name

    def lstat(self, rel: str) -> os.stat_result | None:
        """lstat of rel, None when it (or a directory on the way) does not exist."""
        try:
            fd, name = self.split(rel)
            return os.lstat(name, dir_fd=fd)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def create(
        self,
        rel: str,
        data: bytes,
        mode: int,
        *,
        for_path: str | None = None,
        unsynced: list[tuple[int, str]] | None = None,
    ) -> None:
        """Create rel (a clustergen temp name) with exactly `mode`, fsynced.

        A leftover of that name is clustergen's own and is replaced; on failure
        nothing of it is left. Errors name `for_path` (the file being written).
        With `unsynced`, the open file and its name are appended there instead of
        fsynced: the caller syncs them all at once (`sync_files`).
        """
        fd, name = self.split(rel)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            try:
                out = os.open(name, flags, 0o600, dir_fd=fd)
            except FileExistsError:  # a leftover of ours: replaced
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name, dir_fd=fd)
                out = os.open(name, flags, 0o600, dir_fd=fd)
        except OSError as err:
            raise write_error(for_path or rel, err) from None
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(out, view) :]
            os.fchmod(out, mode)
            if unsynced is None:
                os.fsync(out)
        except OSError as err:
            os.close(out)
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=fd)
            raise write_error(for_path or rel, err) from None
        if unsynced is None:
            os.close(out)
        else:
            unsynced.append((out, for_path or rel))

    @staticmethod
    def sync_files(unsynced: list[tuple[int, str]]) -> None:
        """fsync and close every file `create(unsynced=...)` left open, concurrently.

        All are closed (the list is emptied) whatever happens; the first failure
        is raised as WriteError naming its file (its stage is the caller's to remove).
        """
        try:
            _each_concurrently(os.fsync, unsynced)
        finally:
            for fd, _ in unsynced:
                os.close(fd)
            unsynced.clear()

    def link(self, rel: str, new_rel: str) -> bool:
        """Hard-link rel as new_rel (same directory); False where links are unsupported."""
        fd, name = self.split(rel)
        new_fd, new_name = self.split(new_rel)
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(new_name, dir_fd=new_fd)
            os.link(name, new_name, src_dir_fd=fd, dst_dir_fd=new_fd, follow_symlinks=False)
        except OSError as err:
            if err.errno in (errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK):
                return False
            raise write_error(rel, err, "keep the previous version of") from None
        return True

    def rename(self, rel: str, new_rel: str) -> None:
        fd, name = self.split(rel)
        new_fd, new_name = self.split(new_rel)
        try:
            os.rename(name, new_name, src_dir_fd=fd, dst_dir_fd=new_fd)
        except OSError as err:
            raise write_error(new_rel, err) from None

    def unlink(self, rel: str, *, missing_ok: bool = True) -> None:
        try:
            fd, name = self.split(rel)
            os.unlink(name, dir_fd=fd)
        except (FileNotFoundError, NotADirectoryError):
            if not missing_ok:
                raise
        except OSError as err:
            raise write_error(rel, err, "remove") from None

    def rmdir_if_empty(self, rel_dir: str) -> bool:
        """Remove an empty real directory; False when it holds anything or is no directory."""
        path = PurePosixPath(rel_dir)
        parent = path.parent.as_posix()
        try:
            parent_fd = self.dir_fd("" if parent == "." else parent)
            st = os.lstat(path.name, dir_fd=parent_fd)
            if not stat.S_ISDIR(st.st_mode):
                return False
            fd = self._fds.pop(rel_dir, None)
            if fd is not None:
                os.close(fd)
            os.rmdir(path.name, dir_fd=parent_fd)
        except (OSError, WriteError):  # not empty, gone, or no longer reachable safely
            return False
        return True

    def fsync_dirs(self, only: Iterable[str] | None = None) -> None:
        """Make the renames in every directory opened so far (or those of `only` that are
        open) durable."""

        def sync(fd: int) -> None:
            # Some filesystems refuse fsync on a directory; the renames stand regardless.
            with contextlib.suppress(OSError):
                os.fsync(fd)

        wanted = self._fds.keys() if only is None else set(only) & self._fds.keys()
        _each_concurrently(sync, [(self._fds[rel], rel) for rel in wanted])


@functools.lru_cache(maxsize=4096)
def _split(rel: str) -> tuple[str, str]:
    """(parent, name) of a relative posix path; the parent of a top-level name is ""."""
    path = PurePosixPath(rel)
    parent = path.parent.as_posix()
    return "" if parent == "." else parent, path.name


def _each_concurrently(sync: Callable[[int], None], files: list[tuple[int, str]]) -> None:
    """`sync(fd)` for every (fd, name), several at a time; the first OSError (in the
    list's order) becomes WriteError naming its file."""

    def attempt(fd: int) -> OSError | None:
        try:
            sync(fd)
        except OSError as err:
            return err
        return None

    fds = [fd for fd, _ in files]
    if len(fds) <= 1:
        failures = [attempt(fd) for fd in fds]
    else:
        try:
            with ThreadPoolExecutor(min(_SYNC_THREADS, len(fds))) as pool:
                failures = list(pool.map(attempt, fds))
        except RuntimeError:
            # No new thread at the interpreter's exit (a write settled there, writer.py),
            # or none at all: one by one (an fsync again is harmless).
            failures = [attempt(fd) for fd in fds]
    for err, (_, name) in zip(failures, files, strict=True):
        if err is not None:
            raise write_error(name, err) from None
