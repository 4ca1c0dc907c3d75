"""Compare a fresh render with an older tree, object by object.

`new` holds secrets in plaintext (a render in memory); `old` holds them
encrypted (disk or git), so old secrets are decrypted in memory to compare and
only the names of changed keys are reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from generator.diff.derived import describe, matches, secret_derived
from generator.diff.objects import (
    changed_keys,
    label,
    normalized,
    parse_objects,
    unified,
    without_sops,
)
from generator.errors import ClusterGenError
from generator.secrets.files import is_secret_path

Decrypt = Callable[[str, bytes], bytes | None]
Change = Literal["added", "removed", "changed"]


@dataclass(frozen=True)
class ObjectChange:
    kind: str
    namespace: str
    name: str
    change: Change
    diff: str = ""  # Unified diff of the normalized object; always empty for secrets.
    secret_keys_changed: tuple[str, ...] = ()


@dataclass(frozen=True)
class FileChange:
    path: str
    objects: tuple[ObjectChange, ...] = ()
    text_diff: str = ""  # For files that are not YAML.
    secret: bool = False


@dataclass(frozen=True)
class TreeDiff:
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[FileChange, ...] = ()
    not_compared: tuple[tuple[str, str], ...] = ()  # (path, reason)
    unchanged: int = 0

    @property
    def differs(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def diff_trees(
    new: Mapping[str, bytes],
    old: Mapping[str, bytes],
    *,
    decrypt_old: Decrypt | None = None,
    owned: Iterable[str] = (),
    probe: Mapping[str, bytes] | None = None,
) -> TreeDiff:
    """Differences between trees, limited to the new tree's paths and `owned` ones
    (the generator's manifest): files the user added are nobody's business here.

    `probe`: for a render without keys, the same render with other placeholders; what
    differs between the two derives from secret values and is not compared
    (generator/diff/derived.py)."""
    scope = set(new) | set(owned)
    added = sorted(p for p in new if p not in old)
    removed = sorted(p for p in scope if p in old and p not in new)
    changed: list[FileChange] = []
    not_compared: list[tuple[str, str]] = []
    unchanged = 0
    for path in sorted(p for p in new if p in old):
        if is_secret_path(path):
            result = _secret_file(path, new[path], old[path], decrypt_old)
            if isinstance(result, str):
                not_compared.append((path, result))
                continue
        elif probe is not None and probe.get(path, new[path]) != new[path]:
            result = _derived_file(path, new[path], probe[path], old[path])
            if isinstance(result, str):
                not_compared.append((path, result))
                continue
        else:
            result = _plain_file(path, new[path], old[path])
        if result is None:
            unchanged += 1
        else:
            changed.append(result)
    return TreeDiff(tuple(added), tuple(removed), tuple(changed), tuple(not_compared), unchanged)


def _plain_file(path: str, new: bytes, old: bytes) -> FileChange | None:
    if new == old:
        return None
    new_objects, old_objects = parse_objects(new, path), parse_objects(old, path)
    if new_objects is None or old_objects is None:
        text = unified(old.decode(errors="replace"), new.decode(errors="replace"), path, "")
        return FileChange(path, text_diff=text)
    changes = []
    for key in sorted(new_objects.keys() | old_objects.keys()):
        before = normalized(old_objects[key]) if key in old_objects else ""
        after = normalized(new_objects[key]) if key in new_objects else ""
        if before != after:
            text = unified(before, after, path, label(key))
            changes.append(ObjectChange(*key, _change(before, after), text))
    return FileChange(path, tuple(changes)) if changes else None


def _derived_file(path: str, new: bytes, probe: bytes, old: bytes) -> FileChange | str:
    """A plain file that derives from secret values: the changes outside those values, or
    why it was not compared (only in part, or not at all)."""
    new_objects, probe_objects = parse_objects(new, path), parse_objects(probe, path)
    old_objects = parse_objects(old, path)
    if (
        new_objects is None
        or probe_objects is None
        or old_objects is None
        or new_objects.keys() != probe_objects.keys()
    ):
        return "derives from secret values (no age key)"
    skipped: list[tuple[str | int, ...]] = []
    changed: list[ObjectChange] = []
    for key in sorted(new_objects.keys() | old_objects.keys()):
        if key not in new_objects or key not in old_objects:
            before = normalized(old_objects[key]) if key in old_objects else ""
            after = normalized(new_objects[key]) if key in new_objects else ""
            changed.append(
                ObjectChange(*key, _change(before, after), unified(before, after, path, label(key)))
            )
            continue
        skip = secret_derived(new_objects[key], probe_objects[key])
        skipped += skip
        if not matches(old_objects[key], new_objects[key], skip):
            before, after = normalized(old_objects[key]), normalized(new_objects[key])
            changed.append(ObjectChange(*key, "changed", unified(before, after, path, label(key))))
    if changed:
        return FileChange(path, tuple(changed))
    return f"{describe(skipped)} derive from secret values (no age key); the rest is unchanged"


def _change(before: object, after: object) -> Change:
    return "added" if not before else "removed" if not after else "changed"


def _same(before: object, after: object) -> bool:
    return normalized(without_sops(before)) == normalized(without_sops(after))


def _secret_file(
    path: str, new: bytes, old: bytes, decrypt: Decrypt | None
) -> FileChange | str | None:
    """The changed key names, None when equal, or why the file was not compared."""
    if decrypt is None:
        return "no age key"
    try:
        plain = decrypt(path, old)
    except ClusterGenError as err:
        return f"cannot decrypt: {err}"
    if plain is None:
        return "no age key"
    new_objects, old_objects = parse_objects(new, path), parse_objects(plain, path)
    if new_objects is None or old_objects is None:
        # Not YAML (dotenv, binary): say that it changed, never how.
        return None if new == plain else FileChange(path, secret=True)
    changes = []
    for key in sorted(new_objects.keys() | old_objects.keys()):
        before, after = old_objects.get(key), new_objects.get(key)
        if before is not None and after is not None and _same(before, after):
            continue
        keys = tuple(changed_keys(before or {}, after or {}))
        changes.append(ObjectChange(*key, _change(before, after), "", keys))
    return FileChange(path, tuple(changes), secret=True) if changes else None
