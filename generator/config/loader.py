"""Read cluster.yaml into plain data plus the (line, col) of every key.

Scalars follow the YAML 1.2 core schema, not PyYAML's YAML 1.1 defaults: only
true/false are booleans, so `yes`, `on` or `no` stay text (a boolean field then
says so instead of a node named `no` silently becoming False); `12:30` is not a
base-60 number, `010` is ten and `2024-01-01` stays a string. Numbers written
as strings ("20" for a VLAN) stay strings; the schema accepts both where the
spec does.

Anything malformed (tabs, unclosed brackets, duplicate keys, an empty file, a
list at the top, bytes that are not UTF-8, a missing file) becomes a
ConfigError with the line, never a traceback.

libyaml parses (the composer and constructor are Python, as for every file a user
writes: generator/bounded_yaml.py); PyYAML's parser in Python reads again what
libyaml refuses or could read otherwise, so every message is PyYAML's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.events import ScalarEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from generator.bounded_yaml import (
    CONFIG_LIMITS,
    BoundedComposer,
    BoundedConstructor,
    LimitError,
    TreeLoader,
    int_too_long,
    last_line,
    scalar_text,
    too_large,
)
from generator.config.locate import KeyPath, Position, format_path
from generator.errors import ConfigError, Problem
from generator.process_memo import ProcessMemo


@dataclass(frozen=True)
class LoadedYaml:
    data: dict[str, Any]
    positions: dict[KeyPath, Position]
    file: str
    # Unquoted scalars read as numbers, with their text as written: a key that
    # takes text (a schematic ID of digits, a branch "2024") gets the text back.
    number_texts: dict[KeyPath, str]
    # Integers too long to be a number here (read as their text, like number_texts):
    # the message for each, in case the key takes a number.
    long_numbers: dict[KeyPath, str]


class _Loader(BoundedComposer, BoundedConstructor, yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core implicit types, within CONFIG_LIMITS: PyYAML's parser
    in Python, whose problems and marks the messages below are written for."""

    limits = CONFIG_LIMITS


_Loader.yaml_implicit_resolvers = {}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    list("-+0123456789"),
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+.0123456789"),
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)
_Loader.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), ["<"])


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


class _FastLoader(TreeLoader):
    """_Loader's types and limits on libyaml's parser: the same nodes and marks, but
    libyaml's own words for what does not load."""

    yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers
    yaml_constructors = _Loader.yaml_constructors

    def __init__(self, text: str) -> None:
        super().__init__(text, CONFIG_LIMITS)

    def compose_scalar_node(self, anchor: Any) -> ScalarNode:
        event = self.peek_event()
        if isinstance(event, ScalarEvent) and event.tag == "!" and event.value == "":
            # `key: !` is an empty value (null) to PyYAML, an explicit "" to libyaml.
            event.implicit = (True, False)
        return super().compose_scalar_node(anchor)


_MERGE_TAG = "tag:yaml.org,2002:merge"
_INT_TAG = "tag:yaml.org,2002:int"
# Marks keys copied in by `<<:`, which explicit keys may override without being duplicates.
_MERGED = "!clustergen/merged"


# What each text parsed to (generator/process_memo.py), handed out as copies: callers
# complete what they get. A few: a command loads one config (and the text may be
# up to 1 MiB).
_LOADED: ProcessMemo[LoadedYaml] = ProcessMemo(16, copies=True)


def load_yaml(path: Path) -> LoadedYaml:
    """Parse the file at `path`; raise ConfigError with file:line:col on any malformation."""
    name = path.name
    text = _read_text(path)
    return _LOADED.get((name, text), lambda: _parse(name, text))


def _parse(name: str, text: str) -> LoadedYaml:
    loaded = _parse_with_libyaml(name, text)
    return loaded if loaded is not None else _parse_in_python(name, text)


def _parse_in_python(name: str, text: str) -> LoadedYaml:
    """`_parse` through PyYAML's parser in Python: its problems and marks are what the
    messages and hints here are written for."""
    try:
        loader = _Loader(text)
    except yaml.YAMLError as exc:  # ReaderError: a control character in the text
        raise _reader_error(name, text, exc) from None
    try:
        return _build(name, loader)
    except LimitError as exc:
        raise _error(name, str(exc.problem), _mark_pos(exc)) from None
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(name, exc, text) from None
    except yaml.YAMLError as exc:
        raise _reader_error(name, text, exc) from None


# libyaml reads a tab after a value, or a BOM within the text, as a space; PyYAML's parser
# refuses the first and keeps the second as a character.
_FAST_UNLIKE_PYTHON = re.compile("[\t\ufeff]")


def _parse_with_libyaml(name: str, text: str) -> LoadedYaml | None:
    """`_parse_in_python`'s result through libyaml's parser (~9× faster: 6 → 0.7 ms for the
    sample); None where only PyYAML's parser may read the text: where libyaml would read
    it otherwise, and where it is not one mapping (the error is then said in PyYAML's
    words, with its marks)."""
    # Without a final line break, libyaml marks an empty last value on the line after the
    # last; PyYAML, after its key.
    if _FAST_UNLIKE_PYTHON.search(text) or not text.endswith("\n"):
        return None
    loader = _FastLoader(text)
    try:
        root = loader.get_single_node()
        return _from_root(name, loader, root) if isinstance(root, MappingNode) else None
    except yaml.YAMLError:
        return None
    finally:
        loader.dispose()


def _build(name: str, loader: _Loader) -> LoadedYaml:
    """The loaded file; yaml.YAMLError where the text does not load, ConfigError for
    what it holds (nothing, not a mapping, duplicate keys, ...)."""
    try:
        root = loader.get_single_node()
        if root is None:
            raise _error(name, "the file is empty; start from cluster.sample.yaml", None)
        if not isinstance(root, MappingNode):
            found = "a list" if isinstance(root, SequenceNode) else "a single value"
            raise _error(
                name,
                f"the top level must be a mapping of sections (network:, nodes:, …), found {found}",
                _pos(root),
            )
        return _from_root(name, loader, root)
    finally:
        loader.dispose()


def _from_root(name: str, loader: _Loader | _FastLoader, root: MappingNode) -> LoadedYaml:
    builder = _Builder(loader, name)
    data = builder.build(root, ())
    if builder.problems:
        raise ConfigError(builder.problems)
    assert isinstance(data, dict)
    return LoadedYaml(data, builder.positions, name, builder.number_texts, builder.long_numbers)


def _read_text(path: Path) -> str:
    shown = str(path)
    try:
        with path.open("rb") as file:
            raw = file.read(CONFIG_LIMITS.max_bytes + 1)
            oversize = too_large(path.stat().st_size, CONFIG_LIMITS)
    except FileNotFoundError:
        raise _error(
            shown,
            "not found; run `uv run clustergen init` to create it from cluster.sample.yaml",
            None,
        ) from None
    except IsADirectoryError:
        raise _error(shown, "is a directory; pass the path of cluster.yaml itself", None) from None
    except PermissionError:
        raise _error(shown, "cannot be read (permission denied)", None) from None
    except OSError as exc:
        raise _error(shown, f"cannot be read: {exc.strerror or exc}", None) from None
    if oversize or len(raw) > CONFIG_LIMITS.max_bytes:
        message = oversize or f"the file has more than {CONFIG_LIMITS.max_bytes} bytes"
        raise _error(shown, f"{message}; is this really the cluster config?", None)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        byte = raw[exc.start]
        raise _error(
            path.name,
            f"is not UTF-8 text (byte 0x{byte:02x}); is this really the YAML config?",
            (line, exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1),
        ) from None


def _error(file: str, message: str, pos: Position | None) -> ConfigError:
    line, col = pos if pos else (None, None)
    return ConfigError([Problem(key="", message=message, file=file, line=line, col=col)])


def _pos(node: Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _mark_pos(exc: yaml.MarkedYAMLError) -> Position | None:
    mark = exc.problem_mark
    return (mark.line + 1, mark.column + 1) if mark else None


def _syntax_error(file: str, exc: yaml.MarkedYAMLError, text: str) -> ConfigError:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or "invalid YAML"
    message = f"invalid YAML: {problem}"
    if exc.context and exc.context_mark and exc.context_mark is not mark:
        message += f" ({exc.context} on line {last_line(exc.context_mark.line + 1, text)})"
    hint = _syntax_hint(problem, exc.context or "")
    if hint:
        message += f"; {hint}"
    pos = (mark.line + 1, mark.column + 1) if mark else None
    if pos and last_line(pos[0], text) != pos[0]:
        # An unexpected end of input: PyYAML marks the line after the last one.
        end = text.splitlines()[-1] if text.splitlines() else ""
        pos = (last_line(pos[0], text), len(end) + 1)
        message = message.replace(problem, f"{problem} at the end of the file", 1)
    return _error(file, message, pos)


_INDENT = "check the indentation and that every key ends with ': '"
# (words in PyYAML's problem, words in its context or "", what to do about it)
_HINTS = (
    ("'\\t'", "", "indent with spaces, not tabs"),
    ("\t", "", "indent with spaces, not tabs"),
    ("expected ':'", "", _INDENT),
    ("mapping values are not allowed", "", _INDENT),
    ("expected ',' or ']'", "", "close the '[' or add the missing ','"),
    ("expected ',' or '}'", "", "close the '{' or add the missing ','"),
    ("unexpected end of stream", "quoted scalar", "close the quote"),
    ("expected <block end>", "", "keys of one mapping must start in the same column"),
    ("another document", "", "keep a single document: remove the '---' line"),
    ("constructor for the tag", "", "remove the '!' tag; plain values only"),
    ("cannot read this value as !!", "", "remove the '!!' tag; plain values only"),
    ("undefined alias", "", "define the anchor (&name) before using *name, or write the value"),
)


def _syntax_hint(problem: str, context: str) -> str | None:
    for in_problem, in_context, hint in _HINTS:
        if in_problem in problem and in_context in context:
            return hint
    return None


def _reader_error(file: str, text: str, exc: yaml.YAMLError) -> ConfigError:
    offset = getattr(exc, "position", None)
    if not isinstance(offset, int):
        return _error(file, f"invalid YAML: {exc}", None)
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    char = getattr(exc, "character", None)
    shown = f"0x{char:02x}" if isinstance(char, int) else "?"
    return _error(
        file,
        f"invalid YAML: control character {shown} is not allowed; is this a text file?",
        (line, col),
    )


class _Builder:
    """Turns composed nodes into dicts/lists, recording positions and duplicate keys."""

    def __init__(self, loader: _Loader | _FastLoader, file: str) -> None:
        self.loader = loader
        self.file = file
        self.positions: dict[KeyPath, Position] = {}
        self.number_texts: dict[KeyPath, str] = {}
        self.long_numbers: dict[KeyPath, str] = {}
        self.problems: list[Problem] = []
        self._active: set[int] = set()

    def build(self, node: Node, path: KeyPath) -> Any:
        if isinstance(node, ScalarNode):
            is_int = node.tag == _INT_TAG
            too_long = int_too_long(str(node.value), CONFIG_LIMITS) if is_int else None
            if too_long:
                self.long_numbers[path] = too_long
                self.number_texts[path] = str(node.value)
                return str(node.value)
            try:
                value = self.loader.construct_object(node, deep=True)
            except LimitError as exc:
                self._problem(path, str(exc.problem), _pos(node))
                return None
            # A plain scalar's style: None from PyYAML's parser, "" from libyaml's.
            plain = not node.style and node.tag.startswith("tag:yaml.org,2002:")
            if plain and isinstance(value, int | float) and not isinstance(value, bool):
                self.number_texts[path] = str(node.value)
            return value
        if id(node) in self._active:
            self._problem(path, "refers to itself through an alias; expand it", _pos(node))
            return None
        self._active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return self._sequence(node, path)
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
        finally:
            self._active.discard(id(node))
        return None

    def _sequence(self, node: SequenceNode, path: KeyPath) -> list[Any]:
        if not path:
            self.positions[()] = _pos(node)
        items = []
        for index, item in enumerate(node.value):
            self.positions[(*path, index)] = _pos(item)
            items.append(self.build(item, (*path, index)))
        return items

    def _mapping(self, node: MappingNode, path: KeyPath) -> dict[str, Any]:
        if not path:
            self.positions[()] = _pos(node)
        result: dict[str, Any] = {}
        seen: dict[str, int] = {}
        for key_node, value_node in self._merged(node, path) + self._explicit(node):
            if not isinstance(key_node, ScalarNode):
                self._problem(
                    path, "a key must be a plain name, not a list or mapping", _pos(key_node)
                )
                continue
            try:
                key = scalar_text(key_node)
            except LimitError as exc:
                self._problem(path, f"a key: {exc.problem}", _pos(key_node))
                continue
            line = key_node.start_mark.line + 1
            explicit = key_node.tag != _MERGED
            if explicit and key in seen:
                self._problem(
                    (*path, key),
                    f"duplicate key '{key}' (lines {seen[key]} and {line}); keep one of them",
                    _pos(key_node),
                )
                continue
            if explicit:
                seen[key] = line
            self.positions[(*path, key)] = _pos(key_node)
            result[key] = self.build(value_node, (*path, key))
        return result

    @staticmethod
    def _explicit(node: MappingNode) -> list[tuple[Node, Node]]:
        return [(k, v) for k, v in node.value if k.tag != _MERGE_TAG]

    def _merged(self, node: MappingNode, path: KeyPath) -> list[tuple[Node, Node]]:
        # `<<: *anchor` entries; explicit keys later in the list override them.
        pairs: list[tuple[Node, Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE_TAG:
                continue
            sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            # Earlier sources win, so add them last.
            for source in reversed(sources):
                if not isinstance(source, MappingNode):
                    self._problem(path, "'<<' must refer to a mapping", _pos(source))
                    continue
                for k, v in source.value:
                    marked = ScalarNode(_MERGED, str(k.value), k.start_mark, k.end_mark)
                    pairs.append((marked if isinstance(k, ScalarNode) else k, v))
        return pairs

    def _problem(self, path: KeyPath, message: str, pos: Position) -> None:
        self.problems.append(
            Problem(key=format_path(path), message=message, file=self.file, line=pos[0], col=pos[1])
        )
