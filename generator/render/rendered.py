"""What the documents read: the tree as it will be written (DESIGN.md, "Templates" part).

Markdown (docs/, each app folder's README.md) renders in a second pass, after every other
file has rendered and every merge patch is applied, so a document describes the files the
repository gets, overrides and patches included, never the built-in templates behind them.
Templates reach this as the global `rendered`:

    #% set talenv = rendered.yaml("talos/talenv.yaml") | first %#
    #% if rendered.has("kubernetes/apps/default/echo/README.md") %# … #% endif %#
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from generator.bounded_yaml import load_all
from generator.process_memo import ProcessMemo

# The second pass: documentation, which describes the files and is never patched.
DOCUMENT_SUFFIX = ".md"

# Parses by the file's bytes (generator/process_memo.py), handed out as copies: a
# template may change what it reads (`doc.spec.update(...)`), and that must not reach
# another render. A render's documents read ~40 files of a few KB; a larger one (an
# override's can be up to 16 MiB) is parsed each time rather than held for the process.
_PARSES: ProcessMemo[list[Any]] = ProcessMemo(128, copies=True)
_MAX_KEPT_BYTES = 256 * 1024


def is_document(out: str) -> bool:
    """True for an output path that renders in the second pass (`docs/x.md`, `…/README.md`)."""
    return out.endswith(DOCUMENT_SUFFIX)


class RenderedFiles:
    """The final files of a render, read-only: `files` maps output paths to content.

    A global of the environment from the start (jinja snapshots globals into each imported
    macro module), but closed until `open`: a template other than a document that reads it
    would see a half-rendered tree, so it gets a LookupError saying so instead."""

    def __init__(self, files: Mapping[str, bytes], *, is_open: bool = True) -> None:
        self._files = files
        self._coming: frozenset[str] = frozenset()
        self._open = is_open
        self._parsed: dict[str, list[Any]] = {}

    def open(self, coming: Iterable[str]) -> None:
        """Every file but the documents is final; `coming` names the documents about to
        render (so one can link another)."""
        self._coming = frozenset(coming)
        self._open = True

    def has(self, path: str) -> bool:
        """Whether the render writes `path` (posix, relative to the repository root)."""
        self._check_open(path)
        return path in self._files or path in self._coming

    def yaml(self, path: str) -> list[Any]:
        """The YAML documents of rendered file `path`, empty ones left out. LookupError
        naming the path when nothing renders it (its guard is off, or a typo); yaml.YAMLError
        when it is not YAML or crosses generator/bounded_yaml.py's bounds (an override's can)."""
        self._check_open(path)
        if path not in self._parsed:
            if path not in self._files:
                raise LookupError(f"rendered.yaml({path!r}): no rendered file has this path")
            self._parsed[path] = _parse(self._files[path])
        return self._parsed[path]

    def _check_open(self, path: str) -> None:
        if not self._open:
            raise LookupError(
                f"rendered ({path!r}) is read by documents (*{DOCUMENT_SUFFIX}) only: they "
                "render after every other file; read it from a Markdown template"
            )


def _parse(content: bytes) -> list[Any]:
    """The non-empty YAML documents of `content`: a copy of the process's parse."""

    def parse() -> list[Any]:
        return [doc for doc in load_all(content) if doc is not None]

    if len(content) > _MAX_KEPT_BYTES:
        return parse()
    return _PARSES.get(content, parse)
