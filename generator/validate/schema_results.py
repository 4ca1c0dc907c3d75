"""Schema results kept between runs: an object validated once against a schema is not
validated again while neither changes.

One small file per result under `user_cache_root()/schema-results/` (this user's only),
named by a sha256 over a format tag, the validating code (this package's schema module
and jsonschema, by file status), the schema's identity (`SchemaStore.identity`) and the
object as canonical JSON; it holds the error messages. Only objects the caller marks as
rememberable are looked up or stored: never one read from a `*.sops.*` file or one whose
file has Flux variables to substitute (their values may come from a Secret), so no secret
value reaches the key or the file. An object that is not plain JSON data (a date, a
non-string key) is not remembered either: its canonical form would be ambiguous.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from generator.usercache import private_dir, prune, user_cache_root

_FORMAT = "clustergen-schema-results-1"
_SUFFIX = ".json"

Errors = list[tuple[str, bool]]


class ResultCache:
    """Lookups and stores by (schema identity, object); a miss whenever anything is off."""

    def __init__(self, directory: Path | None = None, code: str = "") -> None:
        self._root = directory
        self._resolved = directory is not None
        self._code = code
        self._dir: Path | None = directory
        self._stored = False

    def _directory(self) -> Path | None:
        if not self._resolved:  # on first use: a store that never remembers touches no disk
            self._resolved = True
            base = user_cache_root()
            self._dir = private_dir(base / "schema-results") if base is not None else None
        return self._dir

    def key(self, identity: str, data: Any) -> str | None:
        """The entry name for `data` checked against the schema `identity`; None when the
        object is not plain JSON data."""
        if not _plain(data):
            return None
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hashlib.sha256()
        for part in (_FORMAT, self._code, identity, canonical):
            encoded = part.encode()
            digest.update(len(encoded).to_bytes(8, "big") + encoded)
        return digest.hexdigest()

    def get(self, key: str) -> Errors | None:
        directory = self._directory()
        if directory is None:
            return None
        try:
            raw = json.loads((directory / f"{key}{_SUFFIX}").read_bytes())
        except (OSError, ValueError):
            return None
        if not isinstance(raw, list) or not all(
            isinstance(e, list) and len(e) == 2 and isinstance(e[0], str) and isinstance(e[1], bool)
            for e in raw
        ):
            return None
        return [(str(message), bool(unresolved)) for message, unresolved in raw]

    def put(self, key: str, errors: Errors) -> None:
        directory = self._directory()
        if directory is None:
            return
        from generator.atomic import atomic_write

        with contextlib.suppress(OSError):
            data = json.dumps([[m, u] for m, u in errors]).encode()
            atomic_write(directory / f"{key}{_SUFFIX}", data, durable=False)
            if not self._stored:  # once per store: a scan costs more than one write
                self._stored = True
                prune(directory)


def code_identity(*modules: str) -> str:
    """File status (size, mtime) of the modules' files: an upgrade or an edit changes it."""
    parts = []
    for path in modules:
        try:
            info = os.stat(path)
            parts.append(f"{path} {info.st_size} {info.st_mtime_ns}")
        except OSError:
            parts.append(f"{path} absent")
    return "\n".join(parts)


def _plain(node: Any) -> bool:
    """JSON data exactly: str keys; str, int, float, bool, None, list and dict values."""
    if isinstance(node, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in node.items())
    if isinstance(node, list):
        return all(_plain(v) for v in node)
    return node is None or isinstance(node, str | int | float | bool)
