"""Every external program runs through `run`: one place for timeouts, env and errors."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from generator.errors import CommandError, CommandInterrupted

DEFAULT_TIMEOUT = 60.0
# A program ended by SIGINT or SIGTERM, by the signal itself or by a shell's 128 + signal.
_INTERRUPTED = frozenset(
    code for signum in (signal.SIGINT, signal.SIGTERM) for code in (-signum, 128 + signum)
)


def run(
    args: Sequence[str | Path],
    *,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    ok_codes: Sequence[int] = (0,),
) -> subprocess.CompletedProcess[bytes]:
    """Run a program to completion and return its result, or raise CommandError.

    `env` is added to (not substituted for) the current environment. stderr is
    captured and quoted in the error so the user sees why the program failed.
    """
    argv = [str(a) for a in args]
    full_env = {**os.environ, **env} if env else None
    try:
        result = subprocess.run(
            argv,
            input=input,
            env=full_env,
            cwd=cwd,
            timeout=timeout,
            capture_output=True,
            check=False,
        )
    except OSError as err:
        raise _cannot_start(argv[0], err) from err
    except subprocess.TimeoutExpired as err:
        raise CommandError(f"{Path(argv[0]).name} did not finish within {timeout:.0f}s") from err
    if result.returncode not in ok_codes and result.returncode in _INTERRUPTED:
        raise CommandInterrupted(f"{Path(argv[0]).name} was interrupted")
    if result.returncode not in ok_codes:
        stderr = result.stderr.decode(errors="replace").strip()
        detail = stderr.splitlines()[-1] if stderr else "no error output"
        raise CommandError(
            f"{Path(argv[0]).name} {argv[1] if len(argv) > 1 else ''} failed "
            f"(exit {result.returncode}): {detail}"
        )
    return result


def run_head(
    args: Sequence[str | Path], *, limit: int, timeout: float = DEFAULT_TIMEOUT
) -> tuple[int | None, bytes]:
    """Run a program for the first `limit` bytes of its output (stdout and stderr, merged):
    (exit status, None when it was stopped for printing more; those bytes). For programs
    that may print without end (`--version` of a broken tool): `run` keeps everything.
    CommandError when it cannot start or does not finish within `timeout` seconds."""
    argv = [str(a) for a in args]
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: stopping it stops what it started
        )
    except OSError as err:
        raise _cannot_start(argv[0], err) from err
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        _stop(process)

    timer = threading.Timer(timeout, expire)
    timer.start()
    try:
        assert process.stdout is not None
        head = process.stdout.read(limit)
        flooded = len(head) == limit and process.poll() is None
    finally:
        timer.cancel()
        _stop(process)  # whatever is left of its group
        process.wait()
        if process.stdout is not None:
            process.stdout.close()
    if expired.is_set() and not flooded:
        raise CommandError(f"{Path(argv[0]).name} did not finish within {timeout:.0f}s")
    return (None if flooded else process.returncode), head


def _stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone
        os.killpg(process.pid, signal.SIGKILL)


def _cannot_start(program: str, err: OSError) -> CommandError:
    if isinstance(err, FileNotFoundError):
        if Path(program).is_file():  # a script whose `#!` interpreter is missing
            return CommandError(
                f"{program} cannot be run: the interpreter its first line (#!) names is not "
                "installed; reinstall it"
            )
        return CommandError(f"{program} is not installed or not on PATH")
    if isinstance(err, PermissionError):
        return CommandError(f"{program} is not executable: {err}")
    # Not a program for this machine (exec format error), …
    return CommandError(
        f"{program} cannot be run: {err.strerror or err} (a download for another system, or "
        "a damaged file?); reinstall it"
    )
