"""YAML parses kept between runs: a file whose exact bytes an earlier run parsed is not
parsed again.

Validation parses every YAML file of the tree with `bounded_yaml`'s Python composer
(~20 ms for the sample's ~110 files), and a one-change configure changes two or three
of them. What a file's text parses to (`documents.Parsed`: each document's line, data
and text span, and the YAML error that stopped parsing) is kept, marshalled, under the
sha256 of its bytes, in one bundle file, `user_cache_root()/yaml-parses/parses.bundle`:
read on the first lookup and written once by `save` when something new was parsed
(a temporary file and a rename, no fsync). The bundle's header names everything a parse
depends on (this format, the Python, PyYAML and libyaml versions, the parsing modules by
file status); a bundle with another header, or whose sha256 does not match (torn,
foreign), is ignored as a whole, and an entry of the wrong shape is parsed again.
Entries are unmarshalled, so only a directory of this user's that nobody else can write
is used (`usercache.private_dir`). The newest `MAX_ENTRIES` are kept, those this run
used last.

Never kept, so that no plaintext secret reaches the cache: a secret file's parse
(`*.sops.*`, plaintext in an in-memory render), a file holding a Secret object. Nor data
marshal cannot write back exactly (a YAML timestamp's datetime, a `!!set`), nor a file
that is not UTF-8 (its finding names the path). Only the tree's own files are looked up
here (`documents.parse_tree` with `ParseCache.parse`): text made from decrypted values (a
decrypted Secret, a document after Flux substitution) goes to `parse_documents`, never here.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import sys
from pathlib import Path
from typing import Any

import yaml
import yaml._yaml

from generator import bounded_yaml
from generator.secrets.files import is_secret_path
from generator.usercache import pack_bundle, private_dir, unpack_bundle, user_cache_root
from generator.validate import documents
from generator.validate.documents import Doc, Finding, Parsed, as_docs, parse_documents, parse_text
from generator.validate.schema_results import code_identity

# Bump when what an entry holds, or how the parsing modules read YAML, changes.
FORMAT = "clustergen-yaml-parses-1"
SUBDIR = "yaml-parses"
BUNDLE = "parses.bundle"
# ~110 per tree of the sample: a few trees' worth, a few hundred KB to read.
MAX_ENTRIES = 512


def header() -> bytes:
    """The bundle's first line: changes whenever a kept parse could differ from a new one."""
    parts = [
        FORMAT,
        sys.version,
        yaml.__version__,
        yaml._yaml.get_version_string(),
        code_identity(str(bounded_yaml.__file__), str(documents.__file__), __file__),
    ]
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]
    return f"{FORMAT} {digest}\n".encode()


class ParseCache:
    """`parse` is `documents.parse_documents` that answers from the bundle what an earlier
    run parsed. `directory` defaults to `user_cache_root()/yaml-parses`, looked up on
    first use; without a usable one nothing is kept (only time is lost)."""

    def __init__(self, directory: Path | None = None) -> None:
        self._root = directory
        self._dir: Path | None = None
        self._resolved = False
        self._bundle: dict[str, bytes] | None = None
        self._header = b""
        self._new: dict[str, bytes] = {}
        # Keys this process looked up or added, in order of first use (a dict as an ordered set).
        self._used: dict[str, None] = {}

    def parse(self, path: str, content: bytes) -> tuple[list[Doc], list[Finding]]:
        """`parse_documents(path, content)`, from the bundle when these bytes were parsed."""
        if is_secret_path(path):
            return parse_documents(path, content)
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            return parse_documents(path, content)
        key = hashlib.sha256(content).hexdigest()
        entry = self._new.get(key) or self._loaded().get(key)
        parsed = _unpacked(entry) if entry is not None else None
        if parsed is None:
            parsed = parse_text(text)
            entry = _packed(parsed)
            if entry is None:
                return as_docs(path, text, parsed)
            self._new[key] = entry
        self._used[key] = None
        return as_docs(path, text, parsed)

    def save(self) -> None:
        """Write the bundle when something new was parsed; give up on any error."""
        if not self._new or (path := self._path()) is None:
            return
        old = self._loaded()
        entries = {k: v for k, v in old.items() if k not in self._used}
        entries.update((k, self._new.get(k) or old[k]) for k in self._used)
        kept = dict(list(entries.items())[-MAX_ENTRIES:])
        with contextlib.suppress(OSError):
            from generator.atomic import atomic_write

            atomic_write(path, pack_bundle(self._header, kept), durable=False)
        self._bundle, self._new = kept, {}
        self._used = {k: None for k in self._used if k in kept}

    def _path(self) -> Path | None:
        if not self._resolved:
            self._resolved = True
            base = user_cache_root()
            root = self._root or (base / SUBDIR if base is not None else None)
            self._dir = private_dir(root) if root is not None else None
        return self._dir / BUNDLE if self._dir is not None else None

    def _loaded(self) -> dict[str, bytes]:
        """The bundle's entries, read once."""
        if self._bundle is None:
            self._bundle = {}
            self._header = header()
            if (path := self._path()) is not None:
                with contextlib.suppress(OSError):
                    self._bundle = unpack_bundle(self._header, path.read_bytes())
        return self._bundle


def _packed(parsed: Parsed) -> bytes | None:
    """The entry for `parsed`; None when it is not to be kept (see the module docstring)."""
    spans, error = parsed
    if any(_holds_secret(data) or not _exact(data) for _, data, _, _ in spans):
        return None
    try:
        # marshal writes dict order, and bool, int and float apart.
        return marshal.dumps((spans, error))
    except ValueError:  # nested deeper than marshal goes
        return None


def _unpacked(entry: bytes) -> Parsed | None:
    """What `_packed` kept; None for an entry of another shape (then parse again)."""
    try:
        loaded = marshal.loads(entry)
    except (EOFError, ValueError, TypeError):
        return None
    if not isinstance(loaded, tuple) or len(loaded) != 2:
        return None
    spans, error = loaded
    if not isinstance(spans, list) or not all(_is_span(span) for span in spans):
        return None
    if error is not None and not (
        isinstance(error, tuple)
        and len(error) == 2
        and isinstance(error[0], str)
        and (error[1] is None or type(error[1]) is int)
    ):
        return None
    return spans, error


def _is_span(span: object) -> bool:
    return (
        isinstance(span, tuple) and len(span) == 4 and all(type(span[i]) is int for i in (0, 2, 3))
    )


_CONTAINERS = (dict, list, tuple)
_SCALARS = (str, int, float, bool, bytes, type(None))


def _exact(data: Any) -> bool:
    """Only values marshal reads back exactly as they were: no datetime (a YAML timestamp)
    and no set (`!!set`: rebuilt in another order, it may iterate in another order)."""
    stack = [data]
    while stack:
        node = stack.pop()
        kind = type(node)
        if kind is dict:
            stack.extend(node)
            stack.extend(node.values())
        elif kind in _CONTAINERS:
            stack.extend(node)
        elif kind not in _SCALARS:
            return False
    return True


def _holds_secret(data: Any) -> bool:
    """A Secret object, or a List holding one: its values may be plaintext."""
    if not isinstance(data, dict):
        return False
    items = data.get("items")
    objects = [data, *items] if isinstance(items, list) else [data]
    return any(isinstance(o, dict) and o.get("kind") == "Secret" for o in objects)
