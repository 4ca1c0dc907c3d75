"""Compiled templates kept between runs, in the user's cache directory.

Compiling the ~180 templates costs more than rendering them; a warm
`clustergen configure` loads their bytecode instead. The cache lives under
`$XDG_CACHE_HOME/clustergen/jinja` (else `~/.cache/clustergen/jinja`), never
next to cluster.yaml, in a directory named after everything compiled code
depends on (jinja and Python versions, delimiters, filter names, the bundle format).

One file (a bundle) per template set (the search paths of one environment, overrides
included): read once, written once at the end of a render that compiled anything
(`save`), via a temporary file and a rename and without fsync: a cache lost in a crash
costs a compile, and a torn or foreign bundle (its sha256 does not match) is ignored
as a whole. Jinja keys each entry by template path and checks the source's checksum
on load, so an edited template is recompiled, never served stale. Bytecode is
unmarshalled on load, so the directory is used only when it belongs to this user
and nobody else can write it; any failure (read-only home, full disk, a corrupt
bundle) falls back to compiling, as if there were no cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import pickle
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import CodeType
from typing import Protocol

import jinja2
import jinja2.bccache

from generator.atomic import atomic_write
from generator.usercache import pack_bundle, private_dir, unpack_bundle, user_cache_root

BUNDLE_FORMAT = b"clustergen-jinja-bundle-1\n"
_SUFFIX = ".bundle"
# Past this many entries, a save keeps only those this process used: without a bound,
# every template ever edited (or every test's template set) would stay in the bundle.
MAX_ENTRIES = 1024


class Prefetch(Protocol):
    """Entries another process compiles (generator/render/precompile.py)."""

    def wait_for(self, key: str) -> bytes | None:
        """The entry of `key` once it arrived; None when it will not (then compile)."""

    def drain(self) -> Mapping[str, bytes]:
        """Every entry that arrived (waiting for the last); the other process is done."""


def default_cache_root() -> Path | None:
    """`user_cache_root()/jinja`: where compiled templates are kept; None without a home."""
    root = user_cache_root()
    return root / "jinja" if root is not None else None


def settings_tag(settings: Iterable[object]) -> str:
    """A directory name that changes whenever compiled templates would differ."""
    parts = [
        BUNDLE_FORMAT.decode(),
        jinja2.__version__,
        sys.implementation.cache_tag or "",
        *map(repr, settings),
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def set_name(search_paths: Iterable[object]) -> str:
    """The bundle's name for one template set: a digest of its search paths."""
    joined = "\0".join(str(p) for p in search_paths)
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


def entry(checksum: str, code: CodeType) -> bytes:
    """One entry as jinja's Bucket reads it: magic, pickled source checksum, marshalled code."""
    return jinja2.bccache.bc_magic + pickle.dumps(checksum, 2) + marshal.dumps(code)


def pack(entries: Mapping[str, bytes]) -> bytes:
    """A bundle: the format line, the sha256 of the payload, the marshalled {key: entry}."""
    return pack_bundle(BUNDLE_FORMAT, entries)


def unpack(data: bytes) -> dict[str, bytes]:
    """The entries of a bundle; {} for anything torn, foreign or of another format."""
    return unpack_bundle(BUNDLE_FORMAT, data)


class TemplateBytecodeCache(jinja2.BytecodeCache):
    """In-process memory first, then the set's bundle on disk (when usable).

    `root` defaults to `default_cache_root()`, looked up on first use; `name` names
    the bundle (`set_name`). `expect` hands it entries another process compiles.
    """

    def __init__(self, tag: str, root: Path | None = None, name: str = "templates") -> None:
        self._root = root
        self._tag = tag
        self._name = name
        self._dir: Path | None = None
        self._resolved = False
        self._bundle: dict[str, bytes] | None = None
        self._memory: dict[str, bytes] = {}
        self._code: dict[str, tuple[bytes, str, CodeType]] = {}  # key → (entry, checksum, code)
        self._used: set[str] = set()
        self._dirty = False
        self._pending: set[str] = set()
        self._prefetch: Prefetch | None = None

    def _directory(self) -> Path | None:
        # Resolved on first use, not at import: `clustergen check` never touches the disk cache.
        if not self._resolved:
            self._resolved = True
            root = self._root if self._root is not None else default_cache_root()
            self._dir = private_dir(root / self._tag) if root is not None else None
        return self._dir

    def _path(self) -> Path | None:
        directory = self._directory()
        return directory / f"{self._name}{_SUFFIX}" if directory is not None else None

    def _loaded(self) -> dict[str, bytes]:
        """The bundle's entries, read once per process."""
        if self._bundle is None:
            self._bundle = {}
            if (path := self._path()) is not None:
                with contextlib.suppress(OSError):
                    self._bundle = unpack(path.read_bytes())
        return self._bundle

    def has(self, key: str, checksum: str) -> bool:
        """Whether an entry for `key` compiled from a source with `checksum` is at hand."""
        code = self._memory.get(key) or self._loaded().get(key)
        return code is not None and code.startswith(
            jinja2.bccache.bc_magic + pickle.dumps(checksum, 2)
        )

    def expect(self, keys: Iterable[str], prefetch: Prefetch) -> None:
        """`keys` are being compiled elsewhere: a load of one waits for it (`wait_for`)."""
        self._pending = set(keys)
        self._prefetch = prefetch

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if bucket.key in self._pending and self._prefetch is not None:
            self._pending.discard(bucket.key)
            if (arrived := self._prefetch.wait_for(bucket.key)) is not None:
                self._memory[bucket.key] = arrived
                self._dirty = True
        code = self._memory.get(bucket.key) or self._loaded().get(bucket.key)
        if code is None:
            return
        # The code an entry unmarshalled to, for the next environment of this process
        # (code objects are immutable; the tests render hundreds of times).
        known = self._code.get(bucket.key)
        if known is not None and known[0] is code and known[1] == bucket.checksum:
            bucket.code = known[2]
        else:
            try:
                bucket.bytecode_from_string(code)
            except Exception:  # a foreign entry: compile instead
                bucket.reset()
                return
            if bucket.code is not None:
                self._code[bucket.key] = (code, bucket.checksum, bucket.code)
        if bucket.code is not None:
            self._memory[bucket.key] = code
            self._used.add(bucket.key)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._memory[bucket.key] = bucket.bytecode_to_string()
        self._used.add(bucket.key)
        self._dirty = True

    def save(self) -> None:
        """Write the bundle when this process compiled anything; give up on any error."""
        if self._prefetch is not None:  # what a worker compiled and no render asked for yet
            arrived = self._prefetch.drain()
            self._memory.update(arrived)
            self._used.update(arrived)
            self._dirty = self._dirty or bool(arrived)
            self._prefetch, self._pending = None, set()
        if not self._dirty or (path := self._path()) is None:
            return
        entries = {**self._loaded(), **self._memory}
        if len(entries) > MAX_ENTRIES:
            entries = {k: v for k, v in entries.items() if k in self._used}
        with contextlib.suppress(OSError):
            atomic_write(path, pack(entries), durable=False)
        self._bundle = entries
        self._dirty = False

    def clear(self) -> None:
        self._memory.clear()
        self._code.clear()
        self._bundle = {}
        self._used.clear()
        if (path := self._path()) is not None:
            path.unlink(missing_ok=True)
