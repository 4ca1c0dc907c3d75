"""Private key files next to cluster.yaml: refuse while one is committed to git, warn
while one is readable by other users."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from generator.command import run
from generator.errors import CommandError, Problem, SideFileError
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
    # What `secrets rotate --webhook-token / --deploy-key` keeps of the leaked ones.
    f"{WEBHOOK_TOKEN_NAME}.old",
    f"{DEPLOY_KEY_NAME}.old",
)

_NOT_A_REPO = 128
# How to replace each private file once it has leaked.
REPLACE_HOW = {
    AGE_KEY_NAME: ROTATION_HINT,
    OLD_AGE_KEY_NAME: ROTATION_HINT,
    WEBHOOK_TOKEN_NAME: "`uv run clustergen secrets rotate --webhook-token`",
    DEPLOY_KEY_NAME: "`uv run clustergen secrets rotate --deploy-key`",
    f"{WEBHOOK_TOKEN_NAME}.old": "it was replaced already: delete it",
    f"{DEPLOY_KEY_NAME}.old": "it was replaced already: delete it",
    TUNNEL_CREDENTIALS_NAME: "delete the tunnel and create a new one with `cloudflared tunnel`",
}


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
        f"leaked and replace it ({'; '.join(f'{n}: {REPLACE_HOW[n]}' for n in tracked)})"
    )


def loose_key_files(workdir: Path, names: Iterable[str] = PRIVATE_FILES) -> list[Problem]:
    """A warning for each private key file group or others may read (a copy, an editor or
    `sops --output` can leave 0644). A warning, not a refusal: the run itself is safe and a
    shared umask is common; ssh would refuse such a deploy key, so the fix is given."""
    loose = []
    for name in names:
        try:
            mode = (workdir / name).stat().st_mode & 0o777
        except OSError:
            continue
        if mode & 0o077:
            loose.append((name, mode))
    return [
        Problem(
            "",
            f"readable by {'others' if mode & 0o007 else 'its group'} (mode {mode:04o}); "
            f"it holds a private key: `chmod 600 {name}`",
            file=name,
        )
        for name, mode in loose
    ]
