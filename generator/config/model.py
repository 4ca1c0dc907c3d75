"""The validated configuration handed to the rest of the pipeline."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.errors import Problem


def digest_of(values: Mapping[str, Any]) -> str:
    """sha256 of the normalised values; stable across key order and formatting."""
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Cluster:
    """cluster.yaml with every default applied (`values`) and the computed `derived` values."""

    values: dict[str, Any]
    derived: dict[str, Any]
    path: Path
    digest: str
    # Valid but operationally unsound settings (config.rules_warnings), in file order.
    warnings: tuple[Problem, ...] = ()

    def context(self) -> dict[str, Any]:
        """The template context: every top-level section plus `derived`."""
        return {**self.values, "derived": self.derived}
