"""`clustergen init`: the sample cluster.yaml and key files that are missing.

Never overwrites: a file that exists is kept and reported as such.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import yaml

from generator import bounded_yaml, paths
from generator.errors import ClusterGenError, SideFileError
from generator.repository import is_ssh
from generator.secrets.continuity import refuse_lost_keys
from generator.secrets.files import create_exclusive
from generator.secrets.keys import (
    generate_age_key,
    generate_deploy_key,
    generate_webhook_token,
    load_deploy_key,
    public_openssh,
)
from generator.secrets.tracked import refuse_tracked_keys
from generator.write.lock import writing

PRIVATE = 0o600
PUBLIC = 0o644
# cluster.yaml may hold plaintext secrets: private, and narrower still if the umask says so.
CONFIG_MODE = PRIVATE
# Content is produced only for files that do not exist yet.
_Maker = Callable[[], str | bytes]


def init_workdir(workdir: Path) -> list[str]:
    """Create what is missing in workdir; one "created X" / "kept X …" line per file.

    Runs under the working directory's lock (write/lock.py), after recovering
    a write a crash interrupted.
    """
    if not workdir.is_dir():
        raise ClusterGenError(f"{workdir} is not a directory; create it first")
    with writing(workdir) as recovered:
        return ([recovered] if recovered else []) + _init_locked(workdir)


def missing(workdir: Path) -> list[str]:
    """The files `init_workdir` would create (deploy.key only for an ssh:// repository.url
    in a cluster.yaml that parses); [] when it would create nothing. Reads, never writes."""
    config = workdir / paths.CONFIG_NAME
    names = [paths.CONFIG_NAME, paths.AGE_KEY_NAME, paths.WEBHOOK_TOKEN_NAME]
    if is_ssh(_repository_url(config)[1]):
        names.append(paths.DEPLOY_KEY_NAME)
    return [name for name in names if not (workdir / name).exists()]


def _repository_url(config: Path) -> tuple[bool, object]:
    """(whether cluster.yaml parses, its repository.url or None)."""
    try:
        data = bounded_yaml.load(config.read_bytes(), bounded_yaml.CONFIG_LIMITS)
    except (OSError, yaml.YAMLError):
        return False, None
    repository = data.get("repository") if isinstance(data, dict) else None
    return True, repository.get("url") if isinstance(repository, dict) else None


def current_umask() -> int:
    """The process umask (read from /proc where it can be, else set and restored)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def _init_locked(workdir: Path) -> list[str]:
    refuse_tracked_keys(workdir)
    refuse_lost_keys(workdir)
    lines: list[str] = []
    config = workdir / paths.CONFIG_NAME
    if not config.exists() and not paths.SAMPLE_CONFIG.is_file():
        raise ClusterGenError(
            f"the sample config {paths.SAMPLE_CONFIG} is missing; reinstall clustergen"
        )
    lines.append(_create(config, paths.SAMPLE_CONFIG.read_bytes, CONFIG_MODE & ~current_umask()))
    lines.append(_create(workdir / paths.AGE_KEY_NAME, generate_age_key, PRIVATE))
    lines.append(_create(workdir / paths.WEBHOOK_TOKEN_NAME, _token_file, PRIVATE))
    lines.extend(_deploy_key(workdir, config))
    return lines


def _token_file() -> str:
    return generate_webhook_token() + "\n"


def _create(path: Path, make: _Maker, mode: int) -> str:
    if path.exists():
        return f"kept {path.name} (already exists)"
    try:
        create_exclusive(path, make(), mode)
    except FileExistsError:  # created by someone else meanwhile: theirs wins
        return f"kept {path.name} (already exists)"
    return f"created {path.name}"


def _deploy_key(workdir: Path, config: Path) -> list[str]:
    parses, url = _repository_url(config)
    if not parses:
        return [
            f"skipped {paths.DEPLOY_KEY_NAME}: {paths.CONFIG_NAME} does not parse; "
            "run `uv run clustergen check` to see why, then `uv run clustergen init` again"
        ]
    if not is_ssh(url):
        return []
    private_path = workdir / paths.DEPLOY_KEY_NAME
    public_path = workdir / f"{paths.DEPLOY_KEY_NAME}.pub"
    if private_path.exists() and public_path.exists():
        return [_create(private_path, str, PRIVATE), _create(public_path, str, PUBLIC)]
    if private_path.exists():
        # Keep the pair consistent: a lost public half is re-derived, never re-generated.
        key = load_deploy_key(private_path.read_text(encoding="utf-8"), paths.DEPLOY_KEY_NAME)
        return [
            f"kept {private_path.name} (already exists)",
            _create(public_path, lambda: public_openssh(key), PUBLIC),
        ]
    if public_path.exists():
        raise SideFileError(
            f"{public_path.name} exists without {private_path.name}; a new private key would "
            f"not match it. Remove {public_path.name} and run `uv run clustergen init` again"
        )
    private, public = generate_deploy_key()
    return [
        _create(private_path, lambda: private, PRIVATE),
        _create(public_path, lambda: public, PUBLIC),
    ]
