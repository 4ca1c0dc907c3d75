"""Results a process keeps by their exact input, for pure but slow work done again.

PyYAML's pure-Python loader and emitter are slow (~5 ms to parse cluster.yaml), and a
process can meet the same input again: a render dumps the same values many times, diff
and upgrade render twice, a test process hundreds of times. What a caller may change
(parsed documents) is kept with `copies`: only deep copies are handed out. Failures are
never kept, so they are found again each time.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

_V = TypeVar("_V")


class ProcessMemo(Generic[_V]):
    """At most `size` results by key; once full, every one is forgotten at once (the
    inputs of one run fit many times over, so the simplest bound is enough). With
    `copies`, each caller gets a deep copy, never the result kept: what one changes
    reaches no other."""

    def __init__(self, size: int, *, copies: bool = False) -> None:
        self._size = size
        self._copies = copies
        self._kept: dict[Hashable, _V] = {}

    def get(self, key: Hashable, make: Callable[[], _V]) -> _V:
        """The result kept for `key`, else `make()`'s, kept (what `make` raises is not)."""
        if key in self._kept:
            kept = self._kept[key]
        else:
            kept = make()
            if len(self._kept) >= self._size:
                self._kept.clear()
            self._kept[key] = kept
        return copy.deepcopy(kept) if self._copies else kept
