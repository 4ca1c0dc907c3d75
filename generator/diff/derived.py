"""Comparing non-secret files whose content derives from a secret value, without the keys.

Without the age key (CI without repository secrets) every secret value renders as a
placeholder. Most of them only reach `*.sops.*` files, which are then "not compared".
Some reach plain files through a derivation: the tunnel's DNS target is built from the
tunnel ID in cloudflare-tunnel.json, and a network policy opens the port of each secret
webhook URL. Such a file would differ from the committed one although nothing changed.

The keyless render is therefore made twice, with two different placeholders
(`config.NOT_DECRYPTED` and `config.NOT_DECRYPTED_PROBE`, which differ in every derivation
a template makes: text, hash, URL port). The parts of a file that differ between the two
renders derive from secrets: they are skipped, and the rest is compared as usual. A part
is a value, or the innermost list holding it, since a derived value may add or merge list
items (two secret URLs on one port give one port entry).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from generator.secrets.files import is_secret_path

Path = tuple[str | int, ...]


def secret_derived_files(
    render: Mapping[str, bytes], probe: Mapping[str, bytes] | None
) -> frozenset[str]:
    """The plain (not `*.sops.*`) paths of a keyless `render` whose content differs from
    the `probe` render's, or that only `render` has (path → bytes, both straight from the
    templates, before any hand edit is merged in): the files that derive from secret
    values. Empty without a probe (a render with keys). The one set of them that diff and
    upgrade --check both use and count."""
    if probe is None:
        return frozenset()
    return frozenset(p for p, b in render.items() if not is_secret_path(p) and probe.get(p) != b)


def secret_derived(first: Any, second: Any) -> frozenset[Path]:
    """Paths in `first` whose values differ from `second`'s (two renders of one object
    with different placeholders), each widened to the innermost list holding it."""
    found: set[Path] = set()
    _walk(first, second, (), None, found)
    return frozenset(found)


def _walk(first: Any, second: Any, at: Path, in_list: Path | None, found: set[Path]) -> None:
    if isinstance(first, dict) and isinstance(second, dict) and first.keys() == second.keys():
        for key in first:
            _walk(first[key], second[key], (*at, key), in_list, found)
    elif isinstance(first, list) and isinstance(second, list) and len(first) == len(second):
        for index, (a, b) in enumerate(zip(first, second, strict=True)):
            _walk(a, b, (*at, index), at, found)
    elif first != second:
        own = at if isinstance(first, list) else None
        found.add(own or in_list or at)


def matches(old: Any, new: Any, skip: frozenset[Path], at: Path = ()) -> bool:
    """`old` equals `new` everywhere but under the paths in `skip`."""
    if at in skip:
        return True
    if isinstance(old, dict) and isinstance(new, dict):
        return old.keys() == new.keys() and all(
            matches(old[k], new[k], skip, (*at, k)) for k in new
        )
    if isinstance(old, list) and isinstance(new, list):
        return len(old) == len(new) and all(
            matches(o, n, skip, (*at, i)) for i, (o, n) in enumerate(zip(old, new, strict=True))
        )
    return bool(old == new)


def describe(paths: Sequence[Path]) -> str:
    """`spec.endpoints[0].targets, ...` for a report, each path once."""
    return ", ".join(sorted({_dotted(p) for p in paths}))


def _dotted(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(whole document)"
