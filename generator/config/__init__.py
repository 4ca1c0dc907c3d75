"""cluster.yaml → Cluster: load (positions, duplicates) → schema → rules → defaults + derived.

Every problem is collected and raised at once as a ConfigError whose lines read
`cluster.yaml:LINE:COL key.path: what is wrong (allowed: …; did you mean …?)`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from generator import validation_worker
from generator.config import derive, rules, rules_warnings, schema, version
from generator.config.loader import load_yaml
from generator.config.locate import (
    KeyPath,
    Locator,
    Position,
    all_paths,
    format_path,
    sort_problems,
)
from generator.config.model import Cluster, digest_of
from generator.errors import ConfigError, Problem
from generator.paths import SECRETS_CONFIG_NAME

__all__ = [
    "NOT_DECRYPTED",
    "NOT_DECRYPTED_PROBE",
    "load_cluster",
    "summary",
]

# Stands in for each value of cluster.secrets.sops.yaml when no key can decrypt it
# (CI without secrets): the overlay's structure is known, its values are not.
NOT_DECRYPTED = "not-decrypted-no-age-key"
# The second stand-in of a render without keys (generator/diff/derived.py): shaped like a URL
# with a port, so that whatever a template derives from a secret value (text, a hash, a URL's
# port) comes out different from NOT_DECRYPTED's.
NOT_DECRYPTED_PROBE = "https://not-decrypted.invalid:1/no-age-key"
_PLACEHOLDERS = (NOT_DECRYPTED, NOT_DECRYPTED_PROBE)


def load_cluster(path: Path, overlay: Mapping[str, Any] | None = None) -> Cluster:
    """Load, validate and complete the config at `path`.

    `overlay` is the already-decrypted content of cluster.secrets.sops.yaml; it
    is deep-merged over the YAML before validation (mappings merge key by key,
    lists item by item, anything else is replaced).
    """
    loaded = load_yaml(path)
    # An older layout is one error with the command that migrates it, not a pile of
    # unknown-key errors about its renamed keys.
    version.require_current(loaded.data, loaded.positions, path)
    data: dict[str, Any] = loaded.data
    restored = schema.restore_number_texts(data, loaded.number_texts)
    long_numbers = {p: m for p, m in loaded.long_numbers.items() if p not in restored}
    leaves: set[KeyPath] = set()
    inner: set[KeyPath] = set()
    unknown: set[KeyPath] = set()
    shadowed: list[Problem] = []
    if overlay:
        shadowed = _set_twice(loaded.data, overlay, loaded.positions, loaded.file)
        data = deep_merge(data, overlay)
        for key_path, is_leaf in all_paths(overlay):
            (leaves if is_leaf else inner).add(key_path)
            if is_leaf and _value_at(overlay, key_path) in _PLACEHOLDERS:
                unknown.add(key_path)
    locator = Locator(
        loaded.file,
        loaded.positions,
        frozenset(leaves),
        frozenset(inner),
        overlay_positions=_overlay_positions(path.parent / SECRETS_CONFIG_NAME) if overlay else {},
    )

    # In configure's validation worker when it has one: the rules run meanwhile.
    checked = validation_worker.submit("generator.config.schema:validate", data)
    values = derive.apply_defaults(data)
    derive.complete(values)
    judged = list(rules.check(values, data))
    # A number too long to read is reported as that, not as text where a number goes.
    findings = [(p, m) for p, m in checked.result() if p not in long_numbers]
    findings += long_numbers.items()
    flagged = {key_path for key_path, _ in findings}
    for key_path, message in judged:
        # A value the schema rejected is not judged again by the rules.
        if not any(key_path[:end] in flagged for end in range(len(key_path) + 1)):
            findings.append((key_path, message))
    # A value we could not decrypt cannot be judged either way.
    findings = [(key_path, message) for key_path, message in findings if key_path not in unknown]
    if findings:
        problems = [locator.problem(key_path, message) for key_path, message in findings]
        raise ConfigError(sort_problems(problems))

    derive.normalise(values)
    derived = derive.derive(values)
    warnings = [locator.problem(p, m) for p, m in rules_warnings.check_warnings(values)]
    warnings += shadowed
    return Cluster(
        values=values,
        derived=derived,
        path=path,
        digest=digest_of(values),
        warnings=tuple(sort_problems(warnings)),
    )


def _set_twice(
    base: Mapping[str, Any],
    overlay: Mapping[str, Any],
    positions: Mapping[KeyPath, Position],
    file: str,
) -> list[Problem]:
    """A warning for each key set to different values in cluster.yaml and the overlay:
    the overlay wins the merge, silently otherwise. Values are never shown."""
    found = []
    for key_path, is_leaf in all_paths(overlay):
        mine = _value_or_none(base, key_path)
        theirs = _value_at(overlay, key_path)
        if not is_leaf or mine in (None, "") or theirs in _PLACEHOLDERS or mine == theirs:
            continue
        line, col = positions.get(key_path, (None, None))
        found.append(
            Problem(
                format_path(key_path),
                f"also set, to another value, in {SECRETS_CONFIG_NAME}, whose value is used; "
                f'keep it in one place (set it to "" here)',
                file=file,
                line=line,
                col=col,
            )
        )
    return found


def _value_or_none(data: Any, key_path: KeyPath) -> Any:
    for part in key_path:
        in_list = isinstance(data, list) and isinstance(part, int) and part < len(data)
        if not (in_list or (isinstance(data, Mapping) and part in data)):
            return None
        data = data[part]
    return data


def _overlay_positions(path: Path) -> Mapping[KeyPath, Position]:
    """Where each key sits in the encrypted overlay: sops keeps keys (and their lines) in
    clear text, so a finding about an overlay value names the line without decrypting."""
    try:
        return load_yaml(path).positions
    except (ConfigError, OSError):
        return {}  # the decrypted overlay parsed; a file we cannot place just loses its lines


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        merged[key] = _merge_value(merged.get(key), value)
    return merged


def _merge_value(base: Any, value: Any) -> Any:
    if isinstance(base, Mapping) and isinstance(value, Mapping):
        return deep_merge(base, value)
    if isinstance(base, list) and isinstance(value, list):
        merged = list(base)
        for index, item in enumerate(value):
            if index < len(merged):
                merged[index] = _merge_value(merged[index], item)
            else:
                merged.append(copy.deepcopy(item))
        return merged
    return copy.deepcopy(value)


def _value_at(data: Any, key_path: KeyPath) -> Any:
    for part in key_path:
        data = data[part]
    return data


def summary(cluster: Cluster) -> str:
    """One line: '3 nodes (3 controllers, 0 workers), features on: monitoring, pod_security'."""
    derived = cluster.derived
    nodes, controllers = derived["node_count"], derived["controller_count"]
    workers = nodes - controllers
    on = ", ".join(derived["features_on"]) or "none"
    return (
        f"{_count(nodes, 'node')} ({_count(controllers, 'controller')}, "
        f"{_count(workers, 'worker')}), features on: {on}"
    )


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
