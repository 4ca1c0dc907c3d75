"""What the documents read: the tree as it will be written (DESIGN.md, "Documents").

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

import yaml

# The second pass: documentation, which describes the files and is never patched.
DOCUMENT_SUFFIX = ".md"


def is_document(out: str) -> bool:
    """True for an output path that renders in the second pass (`docs/x.md`, `…/README.md`)."""
    return out.endswith(DOCUMENT_SUFFIX)


class RenderedFiles:
    """The final files of a render, read-only: `files` maps output paths to content; `coming`
    names the documents the second pass is about to render (so one can link another)."""

    def __init__(self, files: Mapping[str, bytes], coming: Iterable[str] = ()) -> None:
        self._files = files
        self._coming = frozenset(coming)
        self._parsed: dict[str, list[Any]] = {}

    def has(self, path: str) -> bool:
        """Whether the render writes `path` (posix, relative to the repository root)."""
        return path in self._files or path in self._coming

    def yaml(self, path: str) -> list[Any]:
        """The YAML documents of rendered file `path`, empty ones left out. LookupError
        naming the path when nothing renders it (its guard is off, or a typo)."""
        if path not in self._parsed:
            if path not in self._files:
                raise LookupError(f"rendered.yaml({path!r}): no rendered file has this path")
            docs = yaml.safe_load_all(self._files[path].decode("utf-8"))
            self._parsed[path] = [doc for doc in docs if doc is not None]
        return self._parsed[path]
