"""Schema results kept between runs: an object validated once against a schema is not
validated again while neither changes.

Kept in `user_cache_root()/schema-results/results.json` (this user's only), each result
under a sha256 over a format tag, the validating code (this package's schema module
and jsonschema, by file status), the schema's identity (`SchemaStore.identity`) and the
object as canonical JSON; each holds the error messages. Only objects the caller marks as
rememberable are looked up or stored: never a Secret, one read from a `*.sops.*` file or
one whose file has Flux variables to substitute (their values may come from a Secret),
so no secret value reaches a key or the file. An object that is not plain JSON data (a date, a
non-string key) is not remembered either: its canonical form would be ambiguous.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from generator.usercache import JsonRecord

_FORMAT = "clustergen-schema-results-1"
_FILE = "results.json"

Errors = list[tuple[str, bool]]


class ResultCache:
    """Lookups and stores by (schema identity, object); a miss whenever anything is off.

    Every entry lives in one file, read on the first lookup and written once by `save`
    when something was added: one read and one write per run, not one per object.
    The newest `MAX_ENTRIES` are kept.
    """

    MAX_ENTRIES = 4096

    def __init__(self, directory: Path | None = None, code: str = "") -> None:
        self._code = code
        # On first use: a store that never remembers touches no disk.
        self._record = JsonRecord(
            "schema-results", _FILE, _errors, directory=directory, keep=self.MAX_ENTRIES
        )

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
        found: Errors | None = self._record.get(key)
        return found

    def put(self, key: str, errors: Errors) -> None:
        self._record.set(key, list(errors))

    def save(self) -> None:
        """Write what `put` added (best effort: a read-only or full cache only costs time)."""
        self._record.save(lambda errors: [[m, u] for m, u in errors])


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


def _errors(value: object) -> Errors | None:
    """An entry as read back, or None when it is not a list of [message, bool] pairs."""
    if isinstance(value, list) and all(
        isinstance(e, list) and len(e) == 2 and isinstance(e[0], str) and isinstance(e[1], bool)
        for e in value
    ):
        return [(m, u) for m, u in value]
    return None


def _plain(node: Any) -> bool:
    """JSON data exactly: str keys; str, int, float, bool, None, list and dict values."""
    if isinstance(node, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in node.items())
    if isinstance(node, list):
        return all(_plain(v) for v in node)
    return node is None or isinstance(node, str | int | float | bool)
