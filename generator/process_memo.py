"""Results a process keeps by their exact input, for pure but slow work done again.

PyYAML's pure-Python loader and emitter are slow (~5 ms to parse cluster.yaml), and a
process can meet the same input again: a render dumps the same values many times, diff
and upgrade render twice, a test process hundreds of times. What a caller may change
(parsed documents) is handed out as copies by the caller (`copy.deepcopy`); failures are
never kept, so they are found again each time.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar, cast

_V = TypeVar("_V")
_MISSING: object = object()


class ProcessMemo(Generic[_V]):
    """At most `size` results by key; once full, every one is forgotten at once (the
    inputs of one run fit many times over, so the simplest bound is enough)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._kept: dict[Hashable, _V] = {}

    def get(self, key: Hashable, make: Callable[[], _V]) -> _V:
        """The result kept for `key`, else `make()`'s, kept (what `make` raises is not)."""
        found = self._kept.get(key, _MISSING)
        if found is not _MISSING:
            return cast(_V, found)
        made = make()
        if len(self._kept) >= self._size:
            self._kept.clear()
        self._kept[key] = made
        return made
