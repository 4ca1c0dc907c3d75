"""Compiled templates kept between runs, in the user's cache directory.

Compiling the ~160 templates costs more than rendering them; a warm
`clustergen configure` loads their bytecode instead. The cache lives under
`$XDG_CACHE_HOME/clustergen/jinja` (else `~/.cache/clustergen/jinja`), never
next to cluster.yaml, in a directory named after everything compiled code
depends on (jinja and Python versions, delimiters, filter names).

Jinja keys each entry by template path and checks the source's checksum on
load, so an edited template is recompiled, never served stale. Bytecode is
unpickled on load, so the directory is used only when it belongs to this user
and nobody else can write it; any failure (read-only home, full disk, a
corrupt entry) falls back to compiling, as if there were no cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import sys
from collections.abc import Iterable
from pathlib import Path

import jinja2
import jinja2.bccache

from generator.atomic import atomic_write
from generator.usercache import private_dir, user_cache_root

_SUFFIX = ".jinjabc"


def default_cache_root() -> Path | None:
    """`user_cache_root()/jinja`: where compiled templates are kept; None without a home."""
    root = user_cache_root()
    return root / "jinja" if root is not None else None


def settings_tag(settings: Iterable[object]) -> str:
    """A directory name that changes whenever compiled templates would differ."""
    parts = [jinja2.__version__, sys.implementation.cache_tag or "", *map(repr, settings)]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


class TemplateBytecodeCache(jinja2.BytecodeCache):
    """In-process memory first, then the on-disk directory (when usable).

    `root` defaults to `default_cache_root()`, looked up on first use.
    """

    def __init__(self, tag: str, root: Path | None = None) -> None:
        self._root = root
        self._tag = tag
        self._dir: Path | None = None
        self._resolved = False
        self._memory: dict[str, bytes] = {}

    def _directory(self) -> Path | None:
        # Resolved on first use, not at import: `clustergen check` never touches the disk cache.
        if not self._resolved:
            self._resolved = True
            root = self._root if self._root is not None else default_cache_root()
            self._dir = private_dir(root / self._tag) if root is not None else None
        return self._dir

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self._memory.get(bucket.key)
        if code is None and (directory := self._directory()) is not None:
            try:
                code = (directory / f"{bucket.key}{_SUFFIX}").read_bytes()
            except OSError:
                return
        if code is None:
            return
        try:
            bucket.bytecode_from_string(code)
        except Exception:  # a truncated or foreign entry: compile instead
            bucket.reset()
            return
        if bucket.code is not None:
            self._memory[bucket.key] = code

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = bucket.bytecode_to_string()
        self._memory[bucket.key] = code
        if (directory := self._directory()) is not None:
            _write_quietly(directory / f"{bucket.key}{_SUFFIX}", code)

    def clear(self) -> None:
        self._memory.clear()
        if (directory := self._directory()) is not None:
            for entry in directory.glob(f"*{_SUFFIX}"):
                entry.unlink(missing_ok=True)


def _write_quietly(path: Path, data: bytes) -> None:
    """Write via rename so a concurrent run never reads half an entry; give up on any error."""
    with contextlib.suppress(OSError):
        atomic_write(path, data, durable=False)
