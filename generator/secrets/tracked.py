"""Private key files next to cluster.yaml: refuse while one is committed to git, warn
while one is readable by other users."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from generator.command import run
from generator.errors import CommandError, Problem, SideFileError
from generator.paths import (
    AGE_KEY_NAME,
    CONFIG_NAME,
    DEPLOY_KEY_NAME,
    SECRETS_CONFIG_NAME,
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
# Set, any of these can put a directory without a `.git` above it in a repository: git
# decides then (git(1), ENVIRONMENT VARIABLES).
_REPOSITORY_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_CEILING_DIRECTORIES")
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
    if not _maybe_in_a_repository(workdir):
        return []
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


def _maybe_in_a_repository(workdir: Path) -> bool:
    """False only where git would find no repository: no `.git` (a directory, or a
    worktree's file) in workdir or above it, and no GIT_* variable that points elsewhere.
    Every configure and check asks; outside a repository this spares a git process."""
    if any(os.environ.get(name) for name in _REPOSITORY_ENV):
        return True
    start = workdir.resolve()
    return any(os.path.lexists(directory / ".git") for directory in (start, *start.parents))


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


def refuse_tracked_plaintext(config_path: Path) -> None:
    """Raise SideFileError while git tracks cluster.yaml and it holds a value for a key the
    schema marks `x-secret` (a token put back after moving it to the overlay): the next
    commit would publish it. Names each key and line, and the way out."""
    from generator.config.loader import load_yaml
    from generator.config.locate import all_paths, format_path
    from generator.config.schema import is_secret

    workdir = config_path.parent
    # Only the repository's own cluster.yaml: example configs under other names (test
    # fixtures, cluster.sample.yaml) are committed on purpose with fake values.
    if config_path.name != CONFIG_NAME or not config_path.is_file():
        return
    if not tracked_files(workdir, [config_path.name]):
        return
    loaded = load_yaml(config_path)
    found = []
    for key_path, is_leaf in all_paths(loaded.data):
        value = _value_at(loaded.data, key_path)
        if not is_leaf or value in (None, "") or not _secret(key_path, is_secret):
            continue
        line = loaded.positions.get(key_path, (None, None))[0]
        dotted = format_path(key_path)
        found.append(f"{config_path.name}:{line} {dotted}" if line else dotted)
    if found:
        raise SideFileError(
            f"{config_path.name} is tracked by git, but holds secret values: "
            f"{', '.join(found)}. Move each to {SECRETS_CONFIG_NAME} (README: 'Where secrets "
            f'live\') and set it to "" here, or stop tracking the file with `git rm --cached '
            f"{config_path.name}`; if a commit already holds the value, rotate it at its "
            "source: it stays in git history"
        )


def _secret(key_path: tuple[str | int, ...], is_secret: Callable[..., bool]) -> bool:
    # A list item's secret-ness is its list's (e.g. a receiver URL in a list of them).
    return is_secret(key_path) or any(is_secret(key_path[:end]) for end in range(1, len(key_path)))


def _value_at(data: object, key_path: tuple[str | int, ...]) -> object:
    for part in key_path:
        data = data[part]  # type: ignore[index]
    return data
