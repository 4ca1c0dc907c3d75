"""YAML loading with bounds, for every file a user or a pull request can write.

PyYAML composes an alias as a reference to the anchored node, so an 11 KB
"billion laughs" document loads quickly but expands to 10⁹ values in anything
that walks it; deep nesting overflows the recursive composer (or segfaults
libyaml's); a 5000-digit integer or a 13th month raises ValueError, not
yaml.YAMLError. The loaders here count while composing and stop at the first
bound crossed with a `LimitError` (a yaml.MarkedYAMLError, so the callers'
existing `except yaml.YAMLError` handle it) that says what is allowed:

- `max_bytes`: the size of the text;
- `max_depth`: nesting, counting what an alias expands to where it is used;
- `max_nodes`: values in the stream once every alias is expanded;
- `max_aliases`: alias uses in the stream;
- `max_int_digits`: digits of one integer.

A double-quoted `\\ud83d\\ude00` pair is joined into its character; a lone
surrogate is an error (it cannot be written as UTF-8 later).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from yaml._yaml import CParser
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import AliasEvent, CollectionStartEvent, NodeEvent
from yaml.nodes import Node, ScalarNode
from yaml.resolver import Resolver

# yaml.error.Mark, or libyaml's own Mark class; both have .line and .column.
Mark = Any


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_depth: int
    max_nodes: int
    max_aliases: int
    max_int_digits: int


# cluster.yaml and its overlay: the sample is ~20 KB, ~1000 values, 6 levels deep.
CONFIG_LIMITS = Limits(
    max_bytes=1024 * 1024, max_depth=32, max_nodes=100_000, max_aliases=200, max_int_digits=19
)
# Rendered or committed files (diff, validate, sops metadata): the largest
# rendered file (a Grafana dashboard) is ~30 000 values and ~20 levels deep.
TREE_LIMITS = Limits(
    max_bytes=16 * 1024 * 1024,
    max_depth=100,
    max_nodes=1_000_000,
    max_aliases=10_000,
    max_int_digits=1000,
)

_SURROGATE = re.compile("[\ud800-\udfff]")
_INT_TAG = "tag:yaml.org,2002:int"


class LimitError(yaml.MarkedYAMLError):
    """A bound of `Limits` crossed, or a value no YAML reader can use; `problem` says which."""

    def __init__(self, problem: str, mark: Mark | None) -> None:
        super().__init__(problem=problem, problem_mark=mark)


def too_large(size: int, limits: Limits) -> str | None:
    """The message for a text of `size` characters over `limits.max_bytes`, else None."""
    if size <= limits.max_bytes:
        return None
    return f"the file is {size} bytes; at most {limits.max_bytes} are read"


def int_too_long(text: str, limits: Limits) -> str | None:
    """The message for an integer written with more digits than allowed, else None."""
    digits = len(text.lstrip("+-").removeprefix("0x").removeprefix("0o").lstrip("0"))
    if digits <= limits.max_int_digits:
        return None
    return f"integer of {digits} digits is too large; at most {limits.max_int_digits} are allowed"


def scalar_text(node: ScalarNode) -> str:
    """The scalar's text with surrogate pairs joined; LimitError for a lone surrogate."""
    text = str(node.value)
    if not _SURROGATE.search(text):
        return text
    try:
        return text.encode("utf-16", "surrogatepass").decode("utf-16")
    except UnicodeDecodeError:
        lone = _SURROGATE.search(text)
        code = f"\\u{ord(lone.group()):04x}" if lone else "a surrogate"
        raise LimitError(
            f"{code} is half of a UTF-16 surrogate pair, not a character; "
            "write the character itself",
            node.start_mark,
        ) from None


class BoundedComposer(Composer):
    """Composer that counts depth, expanded values and aliases (see the module docstring)."""

    limits: Limits

    def _reset_bounds(self) -> None:
        self._depth = 0
        self._nodes = 0
        self._aliases = 0
        # Per open collection: [expanded values below it, height below it].
        self._frames: list[list[int]] = []
        # Anchor → (expanded values, height) of its finished node.
        self._sizes: dict[str, tuple[int, int]] = {}
        self._open: set[str] = set()

    def compose_document(self) -> Node | None:
        if not hasattr(self, "_frames"):
            self._reset_bounds()
        self._sizes = {}
        return super().compose_document()

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()  # type: ignore[attr-defined]
        if isinstance(event, AliasEvent):
            return self._compose_alias(event, parent, index)
        anchor = event.anchor if isinstance(event, NodeEvent) else None
        self._depth += 1
        if self._depth > self.limits.max_depth:
            raise LimitError(
                f"nested more than {self.limits.max_depth} levels deep; "
                f"at most {self.limits.max_depth} are allowed",
                event.start_mark,
            )
        collection = isinstance(event, CollectionStartEvent)
        if collection:
            self._frames.append([0, 0])
            if anchor is not None:
                self._open.add(anchor)
        node = super().compose_node(parent, index)
        size, height = self._frames.pop() if collection else (0, 0)
        self._depth -= 1
        if anchor is not None:
            self._open.discard(anchor)
            self._sizes[anchor] = (size + 1, height + 1)
        self._count(1, size + 1, height + 1, event.start_mark)
        return node

    def _compose_alias(self, event: AliasEvent, parent: Node | None, index: Any) -> Node | None:
        anchor = str(event.anchor)
        if anchor in self._open:
            raise LimitError(
                f"alias *{anchor} refers to a value that contains it; write the value out",
                event.start_mark,
            )
        self._aliases += 1
        if self._aliases > self.limits.max_aliases:
            raise LimitError(
                f"more than {self.limits.max_aliases} aliases (*name); "
                f"at most {self.limits.max_aliases} are allowed",
                event.start_mark,
            )
        node = super().compose_node(parent, index)  # raises for an undefined alias
        size, height = self._sizes.get(anchor, (1, 1))
        if self._depth + height > self.limits.max_depth:
            raise LimitError(
                f"alias *{anchor} nests values more than {self.limits.max_depth} levels deep; "
                f"at most {self.limits.max_depth} are allowed",
                event.start_mark,
            )
        self._count(size, size, height, event.start_mark)
        return node

    def _count(self, new: int, size: int, height: int, mark: Mark) -> None:
        self._nodes += new
        if self._nodes > self.limits.max_nodes:
            raise LimitError(
                f"expands to more than {self.limits.max_nodes} values (aliases count every time "
                f"they are used); at most {self.limits.max_nodes} are allowed",
                mark,
            )
        if self._frames:
            frame = self._frames[-1]
            frame[0] += size
            frame[1] = max(frame[1], height)


class BoundedConstructor(SafeConstructor):
    """SafeConstructor whose failures on odd values (a 13th month, a 5000-digit integer,
    a lone surrogate, `!!bool maybe`) are yaml errors with the value's position, not
    ValueErrors or KeyErrors."""

    limits: Limits

    def construct_scalar(self, node: Node) -> Any:
        if isinstance(node, ScalarNode) and node.style == '"':
            return scalar_text(node)
        return super().construct_scalar(node)  # type: ignore[arg-type]

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        if isinstance(node, ScalarNode) and node.tag == _INT_TAG:
            message = int_too_long(str(node.value), self.limits)
            if message:
                raise LimitError(message, node.start_mark)
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as err:
            problem = f"cannot read this value: {err}"
        except (LookupError, AttributeError):
            # How PyYAML's constructors for an explicit tag fail on a value they cannot
            # read: `!!bool maybe` (KeyError), `!!float ""` (IndexError), `!!timestamp x`
            # (AttributeError: its pattern did not match).
            problem = f"cannot read this value as !!{str(node.tag).rpartition(':')[2]}"
        raise ConstructorError(None, None, problem, node.start_mark)


class TreeLoader(BoundedComposer, BoundedConstructor, Resolver, CParser):
    """libyaml's parser (fast) with the bounded composer and constructor in Python."""

    def __init__(self, stream: str | bytes, limits: Limits = TREE_LIMITS) -> None:
        CParser.__init__(self, stream)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self.limits = limits
        self._oversize = too_large(len(stream), self.limits)

    # CParser composes in C (unbounded); the Python composer above replaces it.
    check_node = Composer.check_node
    get_node = Composer.get_node
    get_single_node = Composer.get_single_node

    def compose_document(self) -> Node | None:
        if self._oversize:
            raise LimitError(self._oversize, None)
        return super().compose_document()


def nodes(content: str | bytes, limits: Limits = TREE_LIMITS) -> Iterator[tuple[Node, Any]]:
    """(node, data) of each non-empty document, lazily, within `limits`: the node's marks
    give its lines and character span. yaml.YAMLError (LimitError for a bound) where a
    document does not load; the documents before it have been yielded."""
    loader = TreeLoader(content, limits)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                yield node, loader.construct_document(node)
    finally:
        loader.dispose()


def load_all(content: str | bytes, limits: Limits = TREE_LIMITS) -> list[Any]:
    """Every document of a rendered or committed file (None for an empty one),
    within `limits`; yaml.YAMLError (LimitError for a bound) if it does not load."""
    loader = TreeLoader(content, limits)
    try:
        documents = []
        while loader.check_node():
            node = loader.get_node()
            documents.append(None if node is None else loader.construct_document(node))
        return documents
    finally:
        loader.dispose()


def load(content: str | bytes, limits: Limits = TREE_LIMITS) -> Any:
    """The single document of `content` (None when empty), within `limits`."""
    loader = TreeLoader(content, limits)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def syntax_error(err: yaml.YAMLError, text: str) -> tuple[str, int | None]:
    """(what is wrong, 1-based line) for a YAML error in `text`, for `file:line: …`.

    PyYAML's problem, with where the construct it was reading began ("while parsing a flow
    sequence on line 9"); an unexpected end of input is marked on the line after the last,
    which no editor shows: that line is the last one, and the message says "at the end of
    the file". The line is None when PyYAML gives no mark.
    """
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    context, context_mark = getattr(err, "context", None), getattr(err, "context_mark", None)
    message = str(problem)
    if mark is not None and mark.index >= len(text.rstrip()):
        message += " at the end of the file"
    if context and context_mark is not None and context_mark is not mark:
        message += f" ({context} on line {last_line(context_mark.line + 1, text)})"
    if mark is None:
        return message, None
    return message, last_line(mark.line + 1, text)


def last_line(line: int, text: str) -> int:
    """`line` (1-based), or the text's last line when it is past the end (PyYAML marks
    the end of input on the line after a final newline)."""
    return min(line, max(1, len(text.splitlines())))
