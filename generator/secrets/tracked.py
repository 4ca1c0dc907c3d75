"""Refuse to work while a private key file is committed to git."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from generator.command import run
from generator.errors import CommandError, SideFileError
from generator.paths import (
    AGE_KEY_NAME,
    DEPLOY_KEY_NAME,
    TUNNEL_CREDENTIALS_NAME,
    WEBHOOK_TOKEN_NAME,
)
from generator.secrets.keys import OLD_AGE_KEY_NAME, ROTATION_HINT

PRIVATE_FILES = (
    AGE_KEY_NAME,
    OLD_AGE_KEY_NAME,
    DEPLOY_KEY_NAME,
    WEBHOOK_TOKEN_NAME,
    TUNNEL_CREDENTIALS_NAME,
)

_NOT_A_REPO = 128


def tracked_files(workdir: Path, names: Iterable[str]) -> list[str]:
    """Those of names that git tracks in workdir; [] outside a repository or without git."""
    wanted = list(names)
    try:
        result = run(
            ["git", "ls-files", "--cached", "-z", "--", *wanted],
            cwd=workdir,
            ok_codes=(0, _NOT_A_REPO),
            timeout=30,
        )
    except CommandError:
        return []  # git is not installed: nothing can be tracked
    if result.returncode == _NOT_A_REPO:
        return []
    listed = {Path(p).name for p in result.stdout.decode().split("\0") if p}
    return [name for name in wanted if name in listed]


def refuse_tracked_keys(workdir: Path, names: Iterable[str] = PRIVATE_FILES) -> None:
    tracked = tracked_files(workdir, names)
    if not tracked:
        return
    listed = " ".join(tracked)
    raise SideFileError(
        f"{', '.join(tracked)} {'is' if len(tracked) == 1 else 'are'} tracked by git in "
        f"{workdir}: anyone with the repository can read {'it' if len(tracked) == 1 else 'them'}. "
        f"Untrack with `git rm --cached {listed}`, list {'it' if len(tracked) == 1 else 'them'} "
        "in .gitignore and commit; the old content stays in git history, so treat it as "
        f"leaked and replace it ({ROTATION_HINT})"
    )
