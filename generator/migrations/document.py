"""cluster.yaml as a migration edits it: the ruamel.yaml round-trip tree plus the file's text.

A migration step changes the tree through `Document`'s methods, which make the same edit
to the text in place (a key renamed where it is written, a line inserted), so every line a
step does not touch stays byte for byte: comments, key order, quoting, indentation, and the
comments after a sequence's `- ` that ruamel.yaml's own dump would move. `text()` checks
that the edited text reads back as exactly the edited tree before anything is written.
Callers hand in only text that config.loader (generator/bounded_yaml.py) has read within
its bounds (size, depth, alias expansion): ruamel.yaml has none of its own.
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from generator.config.locate import KeyPath, format_path
from generator.errors import ClusterGenError

# Lines before the first key that must stay first: editors read the schema from it.
_MODELINE = "# yaml-language-server:"


class MigrationError(ClusterGenError):
    """The file cannot be migrated as written; the message says what to change by hand."""


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    return yaml


def plain(node: Any) -> Any:
    """The tree as plain dicts, lists and scalars (comments and styles dropped)."""
    if isinstance(node, CommentedMap):
        return {str(key): plain(value) for key, value in node.items()}
    if isinstance(node, CommentedSeq):
        return [plain(item) for item in node]
    if isinstance(node, str):
        return str(node)  # a quoted scalar is a str subclass carrying its style
    return node


class Document:
    """One YAML file: `tree` (ruamel.yaml round-trip data) and its lines, edited together."""

    def __init__(self, text: str, name: str) -> None:
        self.name = name
        try:
            tree = _yaml().load(text)
        except YAMLError as err:  # config.loader read it first; this is a last resort
            raise MigrationError(f"{name}: cannot be read for migration: {err}") from None
        if not isinstance(tree, CommentedMap):
            raise MigrationError(f"{name}: the top level must be a mapping of sections")
        self.tree: CommentedMap = tree
        self._lines = lines_of(text)

    def text(self) -> str:
        """The edited text, after checking that it reads back as the edited tree."""
        text = "".join(self._lines)
        try:
            again = _yaml().load(text)
        except YAMLError as err:
            raise AssertionError(f"a migration wrote YAML that does not parse: {err}") from err
        if plain(again) != plain(self.tree):
            raise AssertionError("a migration's text edit and its tree edit disagree")
        return text

    def mapping(self, path: KeyPath) -> CommentedMap | None:
        """The mapping at `path` (("kubernetes",) for `kubernetes:`), None when absent."""
        node: Any = self.tree
        for part in path:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                return None
        return node if isinstance(node, CommentedMap) else None

    def rename(self, path: KeyPath, new: str) -> int | None:
        """Rename the key at `path` (its last part) to `new`, in place, keeping its value,
        comments and position. Returns the key's line (1-based), None when it is absent.

        Raises MigrationError when the new name is already there too, or the key only
        comes from a `<<:` merge (renaming the anchor would change every other user of it).
        """
        *parents, old = path
        parent = self.mapping(tuple(parents))
        shown_old, shown_new = format_path(path), format_path((*parents, new))
        if parent is not None:
            self._refuse_tagged(parent, str(old), shown_old, shown_new)
        if parent is None or not isinstance(old, str) or old not in parent:
            return None
        if new in parent:
            raise MigrationError(
                f"{self.name}: both {shown_old} and {shown_new} are set; keep only "
                f"{shown_new} (the name this clustergen reads) and run migrate again"
            )
        if old not in _own_keys(parent):
            raise MigrationError(
                f"{self.name}: {shown_old} comes from a `<<:` merge; write "
                f"{shown_new} in its place by hand and run migrate again"
            )
        line, col = parent.lc.key(old)
        self._replace_key(line, col, old, new)
        items = list(parent.items())
        position = next(i for i, (key, _) in enumerate(items) if key == old)
        value = parent[old]
        comment = parent.ca.items.pop(old, None)
        del parent[old]
        parent.insert(position, new, value)
        if comment is not None:
            parent.ca.items[new] = comment
        return int(line) + 1

    def _refuse_tagged(
        self, parent: CommentedMap, old: str, shown_old: str, shown_new: str
    ) -> None:
        """MigrationError for `old` written with a tag (`!!str svc_cidr:`): ruamel.yaml keeps
        such a key apart from the plain one, clustergen's loader does not."""
        for key in parent:
            if not isinstance(key, str) and str(getattr(key, "value", "")) == old:
                line = int(parent.lc.key(key)[0]) + 1
                raise MigrationError(
                    f"{self.name}:{line}: {shown_old} is written with a tag (`!!str`); "
                    f"write it as plain {shown_new} by hand and run migrate again"
                )

    def _replace_key(self, line: int, col: int, old: str, new: str) -> None:
        text = self._lines[line]
        for quote in ("", '"', "'"):
            written = f"{quote}{old}{quote}"
            if text.startswith(written, col):
                self._lines[line] = f"{text[:col]}{quote}{new}{quote}{text[col + len(written) :]}"
                return
        raise MigrationError(
            f"{self.name}:{line + 1}: the key `{old}` is written in a way migrate cannot "
            f"edit; rename it to `{new}` by hand and run migrate again"
        )

    def set_top(self, key: str, value: int, comment: tuple[str, ...] = ()) -> int:
        """Set the top-level scalar `key` to `value`: in place where it is written, else as
        a new first key (after the file's opening comments, with `comment` lines above it).
        Returns its line (1-based)."""
        if key in self.tree:
            line, col = self.tree.lc.value(key)
            text = self._lines[line]
            old = str(self.tree[key])
            if not text.startswith(old, col):
                raise MigrationError(
                    f"{self.name}:{line + 1}: set {key}: {value} by hand and run migrate again"
                )
            self._lines[line] = f"{text[:col]}{value}{text[col + len(old) :]}"
            self.tree[key] = value
            return int(line) + 1
        if self.tree.fa.flow_style():
            raise MigrationError(
                f"{self.name}: the top level is one {{…}} mapping; add `{key}: {value}` by "
                "hand and run migrate again"
            )
        at = self._before_first_key()
        newline = "\r\n" if self._lines and self._lines[0].endswith("\r\n") else "\n"
        block = [f"# {text}".rstrip() + newline for text in comment]
        block.append(f"{key}: {value}{newline}")
        following = self._lines[at] if at < len(self._lines) else ""
        if following.strip():
            block.append(newline)
        self._lines[at:at] = block
        self.tree.insert(0, key, value)
        return at + len(comment) + 1

    def _before_first_key(self) -> int:
        """Index of the line a new first key goes on: above the comment lines that belong
        to the first key, below the file's modeline."""
        if not self.tree:
            return len(self._lines)
        at = int(self.tree.lc.key(next(iter(self.tree)))[0])
        while at > 0 and self._lines[at - 1].lstrip().startswith("#"):
            if self._lines[at - 1].startswith(_MODELINE):
                break
            at -= 1
        return at


def lines_of(text: str) -> list[str]:
    """`text`'s lines, each with its ending, as ruamel.yaml numbers them: ended by "\n"
    only (str.splitlines also ends one at a U+2028 or U+0085 inside a quoted value)."""
    parts = text.split("\n")
    lines = [f"{part}\n" for part in parts[:-1]]
    return [*lines, parts[-1]] if parts[-1] else lines


def _own_keys(mapping: CommentedMap) -> set[Any]:
    # Keys written in this mapping, not copied in by `<<:` (ruamel.yaml keeps them apart).
    own: set[Any] = getattr(mapping, "_ok", set(mapping))
    return own
