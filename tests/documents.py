"""YAML documents of rendered files for assertions, parsed once per process.

Many tests look at the same rendered trees; parsing them again for every
assertion with PyYAML's pure-Python loader was most of the suite's time. Each
distinct content is parsed once, with libyaml when PyYAML has it, and every
caller gets its own copy, so a test may change what it got.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import yaml

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@functools.lru_cache(maxsize=4096)
def _parsed(content: bytes | str) -> tuple[Any, ...]:
    return tuple(yaml.load_all(content, Loader=_Loader))


def load_all(content: bytes | str) -> list[Any]:
    """Every document of `content`, as yaml.safe_load_all gives them (None for empty ones)."""
    return [_copy(doc) for doc in _parsed(content)]


def load_all_where(content: bytes | str, keep: Callable[[Any], bool]) -> list[Any]:
    """The documents of `content` that `keep` accepts, each a copy: `keep` sees the parsed
    document itself (it must not change it), so one looking for a few kinds in a whole tree
    copies only those."""
    return [_copy(doc) for doc in _parsed(content) if keep(doc)]


def load(content: bytes | str) -> Any:
    """The single document of `content`, as yaml.safe_load gives it."""
    docs = _parsed(content)
    if len(docs) > 1:
        raise yaml.YAMLError("expected a single document, found more")
    return _copy(docs[0]) if docs else None


def dump(data: Any, **options: Any) -> str:
    """`yaml.safe_dump(data, **options)`, with libyaml's emitter when PyYAML has it: the
    same text for the plain data tests write (cluster.yaml and its edits), in a fifth of
    the time."""
    return yaml.dump(data, Dumper=_Dumper, **options)


def _copy(node: Any) -> Any:
    # Parsed YAML is dicts, lists and immutable scalars: copy.deepcopy's memo is not needed.
    if isinstance(node, dict):
        return {key: _copy(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_copy(item) for item in node]
    return node
