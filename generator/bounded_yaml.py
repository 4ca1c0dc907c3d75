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

For speed, `nodes`, `load_all` and `load` first let libyaml compose in C a text too
small to nest past C's stack (`_libyaml_documents`), measure the result against the
same bounds, and build plain values directly; anything over a bound, or any error,
is read again by the Python composer above, so what is refused, and how, is the same.
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
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
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
    a lone surrogate) are yaml errors with the value's position, not ValueErrors."""

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
            raise ConstructorError(
                None, None, f"cannot read this value: {err}", node.start_mark
            ) from None


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


class _LibyamlLoader(BoundedConstructor, Resolver, CParser):
    """libyaml's parser and composer, both in C: no bounds while composing, so only
    `_libyaml_documents` uses it, on text it has shown to stay within them."""

    def __init__(self, stream: str | bytes, limits: Limits) -> None:
        CParser.__init__(self, stream)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self.limits = limits
        # Documents with an alias: constructed by the constructor, which shares what the
        # alias shares (one object for the anchored value), as TreeLoader's does.
        self.aliased: set[int] = set()


# libyaml's composer recurses in C, ~0.3-0.45 KB of stack per level: 1000 levels crash a
# thread with a 256 KB stack (musl's default for threads is 128 KB). Only text shown to
# nest at most this deep is composed there; anything else by the Python composer.
_LIBYAML_MAX_DEPTH = 200
# Block collections start at a line's indentation or after compact `- `, `? `, `: `
# indicators: a line beginning with this many of those characters may start one there.
_BLOCK_COLUMNS = 40
_LATE_BLOCK_START = re.compile(rf"^[ \t?:-]{{{_BLOCK_COLUMNS + 1}}}", re.MULTILINE)
_LATE_BLOCK_START_BYTES = re.compile(_LATE_BLOCK_START.pattern.encode(), re.MULTILINE)


def _shallow(content: str | bytes) -> bool:
    """Whether `content` provably nests at most _LIBYAML_MAX_DEPTH deep (aliases aside,
    which libyaml does not compose again). Block collections nested in one another start
    in columns that never decrease and repeat at most once (a sequence in its mapping
    key's column), so with every start within _BLOCK_COLUMNS a chain of them is at most
    2 × (_BLOCK_COLUMNS + 1) long; flow collections nest only through `[` and `{`."""
    if isinstance(content, bytes):
        flows = content.count(b"[") + content.count(b"{")
        late = _LATE_BLOCK_START_BYTES.search(content) is not None
    else:
        flows = content.count("[") + content.count("{")
        late = _LATE_BLOCK_START.search(content) is not None
    return not late and 2 * (_BLOCK_COLUMNS + 1) + flows + 1 <= _LIBYAML_MAX_DEPTH


def _libyaml_documents(
    content: str | bytes, limits: Limits
) -> tuple[_LibyamlLoader, list[Node | None]] | None:
    """Every document's node as libyaml composes it in C (5-10× faster than the bounded
    Python composer) with the loader to construct them, or None where the result could
    differ from TreeLoader's: a stream that could nest too deep for C's stack, an alias
    that refers to a value containing it, a bound crossed, or a failure to parse (the
    caller then reads it with TreeLoader, which says what is wrong exactly as before).

    libyaml composes an alias as a second reference to the anchored node, so TreeLoader's
    counts are those of the graph with every shared node expanded where it is used: its
    size (summed over the stream), its height, and the references beyond a node's first.
    """
    if too_large(len(content), limits) or not _shallow(content):
        return None
    loader = _LibyamlLoader(content, limits)
    aliases_possible = b"*" in content if isinstance(content, bytes) else "*" in content
    documents: list[Node | None] = []
    total = aliases = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            documents.append(node)
            if node is None:
                continue
            measured = _tree_size(node, aliases_possible)
            if measured is None:  # a node reached twice: an alias
                measured = _expanded(node)
            if measured is None:
                return None
            size, height, uses = measured
            total += size
            aliases += uses
            if uses:
                loader.aliased.add(id(node))
            if (
                height > limits.max_depth
                or total > limits.max_nodes
                or aliases > limits.max_aliases
            ):
                return None
    except yaml.YAMLError:
        return None
    return loader, documents


def _children(node: Node) -> list[Node]:
    value = node.value
    if not isinstance(value, list):
        return []
    if value and isinstance(value[0], tuple):
        return [part for pair in value for part in pair]
    return value


def _tree_size(root: Node, aliases_possible: bool) -> tuple[int, int, int] | None:
    """(nodes, height, 0) of the tree under `root`; None when a node is reached twice
    (an alias: only possible where the text has a `*`)."""
    seen: set[int] = set()
    size = height = 0
    stack = [(root, 1)]
    push, pop = stack.append, stack.pop
    while stack:  # inlined: it visits every value of every file read
        node, depth = pop()
        if aliases_possible:
            if id(node) in seen:
                return None
            seen.add(id(node))
        size += 1
        if depth > height:
            height = depth
        value = node.value
        if type(value) is list:
            depth += 1
            for item in value:
                if type(item) is tuple:
                    push((item[0], depth))
                    push((item[1], depth))
                else:
                    push((item, depth))
    return size, height, 0


def _expanded(root: Node) -> tuple[int, int, int] | None:
    """(nodes, height, alias uses) of the graph under `root` with every shared node
    expanded where it is used; None for a cycle (an alias inside its own anchor)."""
    measured: dict[int, tuple[int, int]] = {}  # id → (expanded nodes, height)
    references: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        children = _children(node)
        if finished:
            open_nodes.discard(key)
            size, height = 1, 1
            for child in children:
                child_size, child_height = measured[id(child)]
                size += child_size
                height = max(height, child_height + 1)
            measured[key] = (size, height)
            continue
        if key in measured:
            continue  # a second reference, reached after the first was measured
        open_nodes.add(key)
        stack.append((node, True))
        for child in children:
            child_key = id(child)
            if child_key in open_nodes:
                return None
            references[child_key] = references.get(child_key, 0) + 1
            stack.append((child, False))
    size, height = measured[id(root)]
    return size, height, sum(count - 1 for count in references.values())


_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_KEY_TAGS_FLATTENED = ("tag:yaml.org,2002:merge", "tag:yaml.org,2002:value")


class _NotPlain(Exception):
    """A node `_construct` leaves to the constructor."""


def _construct(loader: _LibyamlLoader, root: Node) -> Any:
    """The data of a document composed without aliases, as `loader.construct_document`
    builds it: strings, mappings and sequences directly (most of a manifest), any other
    value by the loader. Merge keys, other tags, collection keys and any error go to
    construct_document, so what it raises (and which error first) is unchanged."""
    if id(root) in loader.aliased:
        return loader.construct_document(root)
    try:
        return _build(loader, root)
    except (_NotPlain, yaml.YAMLError):
        loader.constructed_objects = {}
        loader.recursive_objects = {}
        loader.deep_construct = False
        return loader.construct_document(root)
    finally:
        loader.constructed_objects = {}


def _build(loader: BoundedConstructor, node: Node) -> Any:
    tag = node.tag
    if isinstance(node, ScalarNode):
        if tag != _STR_TAG:
            return loader.construct_object(node)
        return scalar_text(node) if node.style == '"' else node.value
    if tag == _MAP_TAG and isinstance(node, MappingNode):
        mapping = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag in _KEY_TAGS_FLATTENED:
                raise _NotPlain
            mapping[_build(loader, key_node)] = _build(loader, value_node)
        return mapping
    if tag == _SEQ_TAG and isinstance(node, SequenceNode):
        return [_build(loader, item) for item in node.value]
    raise _NotPlain


def nodes(content: str | bytes, limits: Limits = TREE_LIMITS) -> Iterator[tuple[Node, Any]]:
    """(node, data) of each non-empty document, lazily, within `limits`: the node's marks
    give its lines and character span. yaml.YAMLError (LimitError for a bound) where a
    document does not load; the documents before it have been yielded."""
    fast = _libyaml_documents(content, limits)
    if fast is not None:
        libyaml, documents = fast
        try:
            for node in documents:
                if node is not None:
                    yield node, _construct(libyaml, node)
        finally:
            libyaml.dispose()
        return
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
    fast = _libyaml_documents(content, limits)
    if fast is not None:
        libyaml, documents = fast
        try:
            return [None if node is None else _construct(libyaml, node) for node in documents]
        finally:
            libyaml.dispose()
    loader = TreeLoader(content, limits)
    try:
        loaded = []
        while loader.check_node():
            node = loader.get_node()
            loaded.append(None if node is None else loader.construct_document(node))
        return loaded
    finally:
        loader.dispose()


def load(content: str | bytes, limits: Limits = TREE_LIMITS) -> Any:
    """The single document of `content` (None when empty), within `limits`."""
    fast = _libyaml_documents(content, limits)
    if fast is not None and len(fast[1]) <= 1:
        libyaml, documents = fast
        try:
            node = documents[0] if documents else None
            return None if node is None else _construct(libyaml, node)
        finally:
            libyaml.dispose()
    if fast is not None:
        fast[0].dispose()
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
