"""Where clustergen's caches live, and whether a cache directory is safe to use.

No imports beyond the standard library, so the cheapest paths (a configure with
nothing changed) can use it without loading jinja or the validator.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import marshal
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

CACHE_ENV = "XDG_CACHE_HOME"


def user_cache_root() -> Path | None:
    """`$XDG_CACHE_HOME/clustergen`, else `~/.cache/clustergen`; None without a home.

    The one place that decides where clustergen's caches live (template bytecode,
    kustomize build results, downloaded schemas, schema results, YAML parses, the last
    clean configure's inputs), each in its own subdirectory.
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


def pack_bundle(header: bytes, entries: Mapping[str, bytes]) -> bytes:
    """One cache file of many entries: `header` (a line naming everything the entries
    depend on), the sha256 of the payload, the marshalled {key: entry}."""
    payload = marshal.dumps(dict(entries))
    return header + hashlib.sha256(payload).digest() + payload


def unpack_bundle(header: bytes, data: bytes) -> dict[str, bytes]:
    """The entries of a `pack_bundle` file with this `header`; {} for anything torn, foreign
    or of another header. Unmarshals: read only files of a `private_dir`."""
    digest, payload = data[len(header) : len(header) + 32], data[len(header) + 32 :]
    if not data.startswith(header) or hashlib.sha256(payload).digest() != digest:
        return {}
    try:
        loaded = marshal.loads(payload)
    except (EOFError, ValueError, TypeError):
        return {}
    if not isinstance(loaded, dict) or not all(
        isinstance(k, str) and isinstance(v, bytes) for k, v in loaded.items()
    ):
        return {}
    return loaded


class JsonRecord:
    """A JSON object kept in one file of the user cache: read on first use, written once
    by `save` when something was set, the newest `keep` entries kept.

    `directory` is the cache subdirectory (None: `user_cache_root()/<subdir>`, looked up
    on first use, so a record never used touches no disk); only a `private_dir` is read
    or written. `decode(value)` returns an entry as read back, or None to drop it (a file
    another version or a torn write left). Reads and writes are best effort: without a
    usable cache only time is lost.
    """

    def __init__(
        self,
        subdir: str,
        name: str,
        decode: Callable[[object], Any],
        *,
        directory: Path | None = None,
        keep: int = 4096,
    ) -> None:
        self._subdir, self._name, self._decode, self._keep = subdir, name, decode, keep
        self._resolved = directory is not None
        self._dir = directory
        self._entries: dict[str, Any] | None = None
        self._added = False

    def get(self, key: str) -> Any:
        return self._loaded().get(key)

    def set(self, key: str, value: Any) -> None:
        entries = self._loaded()
        entries.pop(key, None)  # re-set: the newest again
        entries[key] = value
        self._added = True

    def save(self, encode: Callable[[Any], object] = lambda value: value) -> None:
        path = self._file()
        if not self._added or path is None or self._entries is None:
            return
        self._added = False
        newest = list(self._entries.items())[-self._keep :]
        from generator.atomic import atomic_write

        with contextlib.suppress(OSError):
            data = json.dumps({k: encode(v) for k, v in newest}).encode()
            atomic_write(path, data, durable=False)

    def _file(self) -> Path | None:
        if not self._resolved:
            self._resolved = True
            base = user_cache_root()
            self._dir = private_dir(base / self._subdir) if base is not None else None
        return self._dir / self._name if self._dir is not None else None

    def _loaded(self) -> dict[str, Any]:
        if self._entries is None:
            self._entries = {}
            path = self._file()
            with contextlib.suppress(OSError, ValueError):
                raw = json.loads(path.read_bytes()) if path is not None else {}
                if isinstance(raw, dict):
                    for key, value in raw.items():
                        decoded = self._decode(value)
                        if isinstance(key, str) and decoded is not None:
                            self._entries[key] = decoded
        return self._entries
