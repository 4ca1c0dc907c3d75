"""Where clustergen's caches live, and whether a cache directory is safe to use.

No imports beyond the standard library, so the cheapest paths (a configure with
nothing changed) can use it without loading jinja or the validator.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

CACHE_ENV = "XDG_CACHE_HOME"


def user_cache_root() -> Path | None:
    """`$XDG_CACHE_HOME/clustergen`, else `~/.cache/clustergen`; None without a home.

    The one place that decides where clustergen's caches live (template bytecode,
    kustomize build results, downloaded schemas, the last clean configure's inputs),
    each in its own subdirectory.
    """
    base = os.environ.get(CACHE_ENV, "")
    if not os.path.isabs(base):  # the XDG spec: relative values are ignored
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:
            return None
    return Path(base) / "clustergen"


def private_dir(path: Path) -> Path | None:
    """`path`, created 0700 if missing, when only this user can write it; else None."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.lstat()
    except OSError:
        return None
    if not path.is_dir() or path.is_symlink():
        return None
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        return None
    if info.st_mode & 0o022:
        return None
    return path


def prune(cache: Path, *, above: int = 4096, age: float = 30 * 24 * 3600.0) -> None:
    """Past `above` entries, remove those not written for `age` seconds: each change adds
    entries to a content-keyed cache, forever otherwise. Best effort."""
    try:
        entries = list(os.scandir(cache))
        if len(entries) <= above:
            return
        cutoff = time.time() - age
        for entry in entries:
            if entry.is_file() and entry.stat().st_mtime < cutoff:
                os.unlink(entry.path)
    except OSError:
        pass  # another run pruned first, or the cache went away: nothing to keep small
