"""Every external program runs through `run`: one place for timeouts, env and errors."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from generator.errors import CommandError

DEFAULT_TIMEOUT = 60.0


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
    except FileNotFoundError as err:
        if Path(argv[0]).is_file():  # a script whose `#!` interpreter is missing
            raise CommandError(
                f"{argv[0]} cannot be run: the interpreter its first line (#!) names is not "
                "installed; reinstall it"
            ) from err
        raise CommandError(f"{argv[0]} is not installed or not on PATH") from err
    except PermissionError as err:
        raise CommandError(f"{argv[0]} is not executable: {err}") from err
    except OSError as err:  # not a program for this machine (exec format error), …
        raise CommandError(
            f"{argv[0]} cannot be run: {err.strerror or err} (a download for another "
            "system, or a damaged file?); reinstall it"
        ) from err
    except subprocess.TimeoutExpired as err:
        raise CommandError(f"{Path(argv[0]).name} did not finish within {timeout:.0f}s") from err
    if result.returncode not in ok_codes:
        stderr = result.stderr.decode(errors="replace").strip()
        detail = stderr.splitlines()[-1] if stderr else "no error output"
        raise CommandError(
            f"{Path(argv[0]).name} {argv[1] if len(argv) > 1 else ''} failed "
            f"(exit {result.returncode}): {detail}"
        )
    return result
