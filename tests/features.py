"""Feature registries derived from the config contract, never kept by hand (issue 16).

- `FEATURES`: every `features.<name>` of schemas/cluster.schema.json with an `enabled` flag.
- `ENABLE_FLAGS`: every `enabled` flag under `features` (nested ones too:
  `features.monitoring.logs.enabled`), as dotted keys.
- `all_features_changes()`: dotted changes (for tests/rendering.py `sample_with`) that turn
  every flag on and fill what an enabled feature requires from the commented-out examples
  of cluster.sample.yaml (`# endpoint: https://s3.example.com`): the sample documents
  every required key that way, so a new feature needs no test edit here.
- `values_required(name)`: the keys the sample comments out under `features.<name>`.

A new feature in the schema is in every registry at once; a test that covers "every
feature" therefore fails until the feature renders, is classified and is documented.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from generator import paths

# `    # key: value  # comment` inside the sample's features section: an example value.
_EXAMPLE = re.compile(r"^(?P<indent> +)# (?P<key>[a-z_][a-z0-9_]*): (?P<value>[^#]+?)(?: +#.*)?$")


@functools.cache
def _features_schema() -> dict[str, Any]:
    schema = json.loads(paths.SCHEMA_FILE.read_text(encoding="utf-8"))
    properties: dict[str, Any] = schema["properties"]["features"]["properties"]
    return properties


def _flags(prefix: str, node: Mapping[str, Any]) -> Iterator[str]:
    for key, child in node.get("properties", {}).items():
        if key == "enabled":
            yield f"{prefix}.enabled"
        elif isinstance(child, dict):
            yield from _flags(f"{prefix}.{key}", child)


FEATURES: tuple[str, ...] = tuple(
    name for name, node in _features_schema().items() if "enabled" in node.get("properties", {})
)
ENABLE_FLAGS: tuple[str, ...] = tuple(
    flag for name in FEATURES for flag in _flags(f"features.{name}", _features_schema()[name])
)


@functools.cache
def _sample_examples() -> dict[str, Any]:
    """{dotted key: value} of every `# key: value` example under the sample's `features:`."""
    lines = paths.SAMPLE_CONFIG.read_text(encoding="utf-8").splitlines()
    start = lines.index("features:")
    stack: list[tuple[int, str]] = []
    found: dict[str, Any] = {}
    for line in lines[start + 1 :]:
        if line and not line.startswith(" "):
            break
        example = _EXAMPLE.match(line)
        plain = re.match(r"^(?P<indent> +)(?P<key>[a-z_][a-z0-9_]*):(?P<rest>.*)$", line)
        match = example or plain
        if match is None:
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        dotted = ".".join(["features", *(key for _, key in stack), match["key"]])
        if example is not None:
            found[dotted] = yaml.safe_load(example["value"])
        elif plain is not None and not plain["rest"].split("#")[0].strip():
            stack.append((indent, match["key"]))  # a mapping: its keys follow
    return found


def values_required(name: str) -> dict[str, Any]:
    """The sample's commented-out examples under `features.<name>` (dotted keys)."""
    prefix = f"features.{name}."
    return {k: v for k, v in _sample_examples().items() if k.startswith(prefix)}


def all_features_changes() -> dict[str, Any]:
    """Every feature flag on, with the sample's examples for what the features require."""
    changes: dict[str, Any] = dict(_sample_examples())
    changes.update(dict.fromkeys(ENABLE_FLAGS, True))
    return changes
