"""Compare a fresh render with an older tree, object by object.

`new` holds secrets in plaintext (a render in memory); `old` holds them
encrypted (disk or git), so old secrets are decrypted in memory to compare and
only the names of changed keys are reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from generator.diff.derived import describe, matches, secret_derived, secret_derived_files
from generator.diff.objects import (
    ObjectKey,
    normalized,
    parse_objects,
    secret_key_changes,
    secret_key_names,
    without_sops,
)
from generator.diff.text import around_derived, file_diff, lines_of, text_diff
from generator.errors import ClusterGenError
from generator.secrets.files import is_secret_path
from generator.secrets.metadata import read_metadata

Decrypt = Callable[[str, bytes], bytes | None]
# The recipients a secret file at this path is encrypted for when written (its
# .sops.yaml creation rule's), or None when unknown.
Recipients = Callable[[str], frozenset[str] | None]
Change = Literal["added", "removed", "changed"]
# The not-compared reason of a secret file the key held could not decrypt (a failure).
CANNOT_DECRYPT = "cannot decrypt with the age key held"


@dataclass(frozen=True)
class ObjectChange:
    """One object of a file that changed; for secrets the names of its keys (never values)."""

    kind: str
    namespace: str
    name: str
    change: Change
    secret_keys_changed: tuple[str, ...] = ()
    secret_keys_added: tuple[str, ...] = ()
    secret_keys_removed: tuple[str, ...] = ()


@dataclass(frozen=True)
class FileChange:
    """A file that is created, removed or changed.

    `text_diff`: unified diff of the file's own text (old bytes against the bytes that
    would be written), real line numbers; always empty for secret files. `note`: what
    was left out of the comparison (values derived from secrets, without a key)."""

    path: str
    objects: tuple[ObjectChange, ...] = ()
    text_diff: str = ""
    secret: bool = False
    note: str = ""
    formatting: bool = False  # the text differs, no object does


@dataclass(frozen=True)
class Conflicting:
    """A hand-edited file configure refuses to write until you choose: why, and each
    conflicting hunk as configure prints it."""

    path: str
    reason: str
    lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class TakenOver:
    """A file you took over (--keep-mine) that differs from its render: how (the file on
    disk against the render), and whether the render changed since you took it over."""

    change: FileChange
    render_changed: bool


@dataclass(frozen=True)
class TreeDiff:
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[FileChange, ...] = ()
    not_compared: tuple[tuple[str, str], ...] = ()  # (path, reason)
    unchanged: int = 0
    # The created and removed files' own texts (or secret key names), by path.
    added_files: tuple[FileChange, ...] = ()
    removed_files: tuple[FileChange, ...] = ()
    # Secret files whose values are unchanged but whose recipients are not those of
    # .sops.yaml: re-encrypted, which is no change of content.
    reencrypted: tuple[str, ...] = ()
    # Files whose objects are equal but whose text is not (comments, quoting, order):
    # shown, since configure would write them, but no change of the cluster.
    reformatted: tuple[FileChange, ...] = ()
    # Secret files (also in not_compared) that the age key held could not decrypt: corrupt
    # or encrypted for another key. A check that could not look is no pass; without any
    # key (keyless CI) a secret is merely not compared.
    undecryptable: tuple[str, ...] = ()
    # Hand edits as configure plans them (generator/diff/__init__.py): files it refuses
    # to write (drift), edited files no longer rendered that it keeps, and files you took
    # over whose render differs (shown; no drift, configure leaves them to you).
    conflicts: tuple[Conflicting, ...] = ()
    kept: tuple[str, ...] = ()
    taken_over: tuple[TakenOver, ...] = ()

    @property
    def differs(self) -> bool:
        return bool(
            self.added or self.removed or self.changed or self.undecryptable or self.conflicts
        )


def diff_trees(
    new: Mapping[str, bytes],
    old: Mapping[str, bytes],
    *,
    decrypt_old: Decrypt | None = None,
    owned: Iterable[str] = (),
    probe: Mapping[str, bytes] | None = None,
    recipients: Recipients | None = None,
    render: Mapping[str, bytes] | None = None,
) -> TreeDiff:
    """Differences between trees, limited to the new tree's paths and `owned` ones
    (the generator's manifest): files the user added are nobody's business here.

    A file changed when one of its objects did (document order, key order, quoting and
    comments alone are no change); what is shown is then its own text. `probe`: for a
    render without keys, the same render with other placeholders; what differs between
    the two derives from secret values and is not compared (generator/diff/derived.py).
    `render`: the render `probe` pairs with, when `new` is configure's plan of it (hand
    edits merged, files you took over as on disk); default `new`. What derives from secret
    values is what differs between the two renders, never a hand edit.
    `recipients`: for telling a re-encrypted secret file (key rotation) from a changed one.
    """
    base = new if render is None else render
    derived = secret_derived_files(base, probe)
    scope = set(new) | set(owned)
    added = sorted(p for p in new if p not in old)
    removed = sorted(p for p in scope if p in old and p not in new)
    changed: list[FileChange] = []
    not_compared: list[tuple[str, str]] = []
    reencrypted: list[str] = []
    reformatted: list[FileChange] = []
    undecryptable: list[str] = []
    unchanged = 0
    for path in sorted(p for p in new if p in old):
        if is_secret_path(path):
            result = _secret_file(path, new[path], old[path], decrypt_old)
            if isinstance(result, str):
                not_compared.append((path, result))
                if result.startswith(CANNOT_DECRYPT):
                    undecryptable.append(path)
                continue
            if result is None and _reencrypted(path, old[path], recipients):
                reencrypted.append(path)
        elif probe is not None and path in derived:
            result = _derived_file(path, new[path], base[path], probe.get(path, b""), old[path])
            if isinstance(result, str):
                not_compared.append((path, result))
                continue
        else:
            result = _plain_file(path, new[path], old[path])
        if result is None:
            unchanged += 1
        elif result.formatting:
            unchanged += 1
            reformatted.append(result)
        else:
            changed.append(result)
    return TreeDiff(
        tuple(added),
        tuple(removed),
        tuple(changed),
        tuple(not_compared),
        unchanged,
        added_files=tuple(_whole_file(p, None, new[p]) for p in added),
        removed_files=tuple(_whole_file(p, old[p], None) for p in removed),
        reencrypted=tuple(reencrypted),
        reformatted=tuple(reformatted),
        undecryptable=tuple(undecryptable),
    )


def _whole_file(path: str, old: bytes | None, new: bytes | None) -> FileChange:
    """A created (old None) or removed (new None) file: its text, or for a secret the
    names of its keys when it is plaintext (a render's side), else nothing."""
    if not is_secret_path(path):
        state: Change = "added" if old is None else "removed"
        objects = parse_objects(old or new or b"", path) or {}
        named = tuple(ObjectChange(*key, state) for key, doc in sorted(objects.items()))
        return FileChange(path, named, text_diff=file_diff(old, new, path))
    if new is None:
        return FileChange(path, secret=True)  # ciphertext: not even the key names are shown
    objects = parse_objects(new, path) or {}
    return FileChange(
        path,
        tuple(
            ObjectChange(*key, "added", secret_keys_added=tuple(secret_key_names(doc)))
            for key, doc in sorted(objects.items())
        ),
        secret=True,
    )


def _plain_file(path: str, new: bytes, old: bytes) -> FileChange | None:
    if new == old:
        return None
    new_objects, old_objects = parse_objects(new, path), parse_objects(old, path)
    if new_objects is None or old_objects is None:
        return FileChange(path, text_diff=file_diff(old, new, path))
    changes = [
        ObjectChange(*key, _change(old_objects.get(key), new_objects.get(key)))
        for key in _changed_objects(old_objects, new_objects)
    ]
    return FileChange(path, tuple(changes), file_diff(old, new, path), formatting=not changes)


def _changed_objects(
    old: Mapping[ObjectKey, object], new: Mapping[ObjectKey, object]
) -> list[ObjectKey]:
    return [
        key
        for key in sorted(new.keys() | old.keys())
        if key not in old or key not in new or normalized(old[key]) != normalized(new[key])
    ]


def _derived_file(
    path: str, new: bytes, render: bytes, probe: bytes, old: bytes
) -> FileChange | str:
    """A plain file that derives from secret values (`render` and `probe` differ): the
    changes of `new` (the render as configure leaves it) outside those values, or why it
    was not compared (only in part, or not at all)."""
    new_objects, probe_objects = parse_objects(new, path), parse_objects(probe, path)
    render_objects, old_objects = parse_objects(render, path), parse_objects(old, path)
    if (
        new_objects is None
        or probe_objects is None
        or render_objects is None
        or old_objects is None
        or new_objects.keys() != probe_objects.keys()
        or render_objects.keys() != probe_objects.keys()
    ):
        return "derives from secret values (no age key)"
    skipped: list[tuple[str | int, ...]] = []
    changed: list[ObjectChange] = []
    for key in sorted(new_objects.keys() | old_objects.keys()):
        if key not in new_objects or key not in old_objects:
            changed.append(ObjectChange(*key, _change(old_objects.get(key), new_objects.get(key))))
            continue
        skip = secret_derived(render_objects[key], probe_objects[key])
        skipped += skip
        if not matches(old_objects[key], new_objects[key], skip):
            changed.append(ObjectChange(*key, "changed"))
    why = f"{describe(skipped)} derive from secret values (no age key)"
    if not changed:
        return f"{why}; the rest is unchanged"
    shown_old, shown_new = around_derived(lines_of(old), lines_of(new), lines_of(probe))
    note = f"{why}: masked on both sides" if skipped else ""
    return FileChange(path, tuple(changed), text_diff(shown_old, shown_new, path), note=note)


def _change(before: object, after: object) -> Change:
    return "added" if before is None else "removed" if after is None else "changed"


def _same(before: object, after: object) -> bool:
    return normalized(without_sops(before)) == normalized(without_sops(after))


def _reencrypted(path: str, old: bytes, recipients: Recipients | None) -> bool:
    """The old ciphertext is for other recipients than the file is (to be) written for."""
    wanted = recipients(path) if recipients else None
    meta = read_metadata(old, path)
    return wanted is not None and meta is not None and meta.recipients != wanted


def _secret_file(
    path: str, new: bytes, old: bytes, decrypt: Decrypt | None
) -> FileChange | str | None:
    """The changed key names, None when equal, or why the file was not compared."""
    if decrypt is None:
        return "no age key"
    try:
        plain = decrypt(path, old)
    except ClusterGenError as err:
        return (
            f"{CANNOT_DECRYPT} (corrupt, or encrypted for another key; restore it from git "
            f"or re-create it): {err}"
        )
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
        added, removed, changed = secret_key_changes(before or {}, after or {})
        changes.append(
            ObjectChange(*key, _change(before, after), tuple(changed), tuple(added), tuple(removed))
        )
    return FileChange(path, tuple(changes), secret=True) if changes else None
