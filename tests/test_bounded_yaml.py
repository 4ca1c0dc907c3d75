"""The bounded loader for rendered and committed files: bounds hold, ordinary files load alike."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
import yaml

from generator import bounded_yaml
from generator.bounded_yaml import CONFIG_LIMITS, LimitError

SNAPSHOTS = Path(__file__).parent / "golden" / "snapshots"


def _laughs(levels: int) -> str:
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * 10)}]")
    return "\n".join(lines) + "\n"


REFUSED: dict[str, tuple[str, str]] = {
    "billion laughs": (
        _laughs(9),
        "expands to more than 1000000 values (aliases count every time they are used); "
        "at most 1000000 are allowed",
    ),
    # libyaml's own composer recurses in C and crashes the process on this.
    "200000 levels of flow nesting": (
        "[" * 200_000 + "]" * 200_000, "nested more than 100 levels deep; at most 100 are allowed"
    ),
    "100000 levels of block nesting": (
        "- " * 100_000 + "x", "nested more than 100 levels deep; at most 100 are allowed"
    ),
    "a recursive alias": (
        "a: &a [*a]", "alias *a refers to a value that contains it; write the value out"
    ),
    "a 5000-digit integer": (
        "a: " + "1" * 5000, "integer of 5000 digits is too large; at most 1000 are allowed"
    ),
    "a 13th month": ("a: 2024-13-01", "cannot read this value: month must be in 1..12"),
}  # fmt: skip


@pytest.mark.parametrize(("content", "expected"), REFUSED.values(), ids=REFUSED.keys())
def test_a_file_beyond_a_bound_is_a_yaml_error_saying_what_is_allowed(
    content: str, expected: str
) -> None:
    with pytest.raises(yaml.YAMLError) as caught:
        bounded_yaml.load_all(content)
    assert getattr(caught.value, "problem", None) == expected


def test_the_size_bound_is_checked_before_parsing() -> None:
    with pytest.raises(LimitError) as caught:
        bounded_yaml.load("a: [" + "1, " * 400_000 + "]", CONFIG_LIMITS)
    assert caught.value.problem == "the file is 1200005 bytes; at most 1048576 are read"


def test_every_rendered_file_loads_as_libyaml_loads_it() -> None:
    files = [p for p in sorted(SNAPSHOTS.rglob("*.yaml")) if p.is_file()]
    assert len(files) > 100
    for path in files:
        content = path.read_bytes()
        expected = list(yaml.load_all(content, Loader=yaml.CSafeLoader))
        assert bounded_yaml.load_all(content) == expected, path


def test_merge_keys_and_multiple_documents_load() -> None:
    text = "a: &a {b: 1}\nc: {<<: *a, d: 2}\n---\n---\ne: 3\n"
    assert bounded_yaml.load_all(text) == [{"a": {"b": 1}, "c": {"b": 1, "d": 2}}, None, {"e": 3}]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # PyYAML marks the end of input on the line after a final newline: no editor shows it.
        (
            "a: 1\nb: [1, 2\n",
            ("did not find expected ',' or ']' at the end of the file "
             "(while parsing a flow sequence on line 2)", 2),
        ),
        (
            "a: 1\nb: [1, 2",
            ("did not find expected ',' or ']' at the end of the file "
             "(while parsing a flow sequence on line 2)", 2),
        ),
        # An error inside the file keeps its own line.
        ("a: [1\nb: 2\nc: 3\n", ("did not find expected ',' or ']' "
                                 "(while parsing a flow sequence on line 1)", 2)),
    ],
)  # fmt: skip
def test_syntax_error_never_points_past_the_last_line(text: str, expected: tuple[str, int]) -> None:
    with pytest.raises(yaml.YAMLError) as caught:
        for _ in bounded_yaml.nodes(text):
            pass
    assert bounded_yaml.syntax_error(caught.value, text) == expected


# Small files are composed by libyaml in C, then measured; over a bound they are read
# again by the bounded Python composer, so the refusal (and its mark) is the same.
REFUSED_SMALL: dict[str, tuple[str, str, int]] = {
    "101 levels of flow nesting": (
        "a: " + "[" * 101 + "]" * 101,
        "nested more than 100 levels deep; at most 100 are allowed",
        1,
    ),
    "101 levels of block nesting": (
        "a: 1\nb:\n" + "  - " * 101 + "x\n",
        "nested more than 100 levels deep; at most 100 are allowed",
        3,
    ),
    "an alias bomb in a few lines": (
        _laughs(7),
        "expands to more than 1000000 values (aliases count every time they are used); "
        "at most 1000000 are allowed",
        6,
    ),
    "an alias nested too deep": (
        "a: &a " + "[" * 60 + "]" * 60 + "\nb: " + "[" * 60 + "*a" + "]" * 60,
        "alias *a nests values more than 100 levels deep; at most 100 are allowed",
        2,
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("content", "expected", "line"), REFUSED_SMALL.values(), ids=REFUSED_SMALL.keys()
)
def test_a_small_file_beyond_a_bound_is_refused_as_before(
    content: str, expected: str, line: int
) -> None:
    for read in (bounded_yaml.load_all, bounded_yaml.load, lambda c: list(bounded_yaml.nodes(c))):
        with pytest.raises(LimitError) as caught:
            read(content)
        assert caught.value.problem == expected
        assert caught.value.problem_mark is not None
        assert caught.value.problem_mark.line + 1 == line


def test_the_value_and_alias_counts_hold_for_small_files() -> None:
    limits = bounded_yaml.Limits(
        max_bytes=100_000, max_depth=10, max_nodes=1000, max_aliases=5, max_int_digits=5
    )
    many = "[" + "1, " * 1000 + "]"  # one collection: composed in C, then counted
    assert bounded_yaml._libyaml_documents("[" + "1, " * 998 + "]", limits) is not None
    with pytest.raises(LimitError) as caught:
        bounded_yaml.load(many, limits)
    assert caught.value.problem == (
        "expands to more than 1000 values (aliases count every time they are used); "
        "at most 1000 are allowed"
    )
    aliases = "a: &a 1\nb: [" + ", ".join(["*a"] * 6) + "]\n"
    with pytest.raises(LimitError) as caught:
        bounded_yaml.load(aliases, limits)
    assert caught.value.problem == "more than 5 aliases (*name); at most 5 are allowed"


def _shape(node: yaml.Node) -> object:
    value = node.value
    if isinstance(value, list):
        value = [
            tuple(_shape(n) for n in item) if isinstance(item, tuple) else _shape(item)
            for item in value
        ]
    marks = [(m.index, m.line, m.column) for m in (node.start_mark, node.end_mark)]
    return (type(node).__name__, node.tag, getattr(node, "style", None), marks, value)


def _composed_in_python(content: bytes) -> list[tuple[object, object]]:
    loader = bounded_yaml.TreeLoader(content)
    documents = []
    while loader.check_node():
        node = loader.get_node()
        if node is not None:
            data = loader.construct_document(node)
            documents.append((_shape(node), data))
    loader.dispose()
    return documents


def test_every_rendered_file_has_the_nodes_and_marks_of_the_bounded_composer() -> None:
    files = [p for p in sorted(SNAPSHOTS.rglob("*.yaml")) if p.is_file()]
    composed_in_c = 0
    for path in files:
        content = path.read_bytes()
        composed_in_c += (
            bounded_yaml._libyaml_documents(content, bounded_yaml.TREE_LIMITS) is not None
        )
        got = [(_shape(node), data) for node, data in bounded_yaml.nodes(content)]
        assert got == _composed_in_python(content), path
    assert composed_in_c > len(files) // 2  # the comparison covers the fast path


# Composed in C and built directly where plain (strings, mappings, sequences); anything
# else goes to the constructor, so values and the first error are TreeLoader's.
TRICKY = {
    "tags": "a: !!binary aGVsbG8=\nb: !!timestamp 2024-01-01\nc: 2024-01-01T10:00:00Z\n"
    "d: !!set {x, y}\ne: !!omap [a: 1]\nf: !!str 12\ng: !!float 1\n",
    "an unknown tag": "a: !custom x\n",
    "a sequence as a key": "? [a, b]\n: 1\n",
    "a merge key": "a:\n  <<: {x: 1}\n  y: 2\n",
    "a value key": "a:\n  =: 1\n",
    "the later of two errors comes first": "a: {x: 2024-13-01}\nb: " + "1" * 2000 + "\n",
    "nulls": "a:\nb: ~\nc: null\nd: [~, '', \"\"]\n? e\n",
    "YAML 1.1 numbers and booleans": "a: 1:30\nb: 0b101\nc: 1_000\nd: yes\ne: on\n",
    "a duplicate key": "a: 1\nb: 2\na: 3\n",
    "a surrogate pair in a key": '"\\ud83d\\ude00": 1\n',
    "a lone surrogate in a key": '"\\ud83d": 2\n',
    "scalar styles": "a: \"x\\ty\"\nb: 'it''s'\nc: |\n  block\nd: >\n  folded\n  text\n",
}


def _python_result(content: str) -> object:
    loader = bounded_yaml.TreeLoader(content)
    try:
        return repr(loader.get_single_data())
    except yaml.YAMLError as err:
        return (type(err).__name__, str(err))
    finally:
        loader.dispose()


@pytest.mark.parametrize("content", TRICKY.values(), ids=TRICKY.keys())
def test_a_small_file_loads_or_fails_as_the_python_composer_has_it(content: str) -> None:
    try:
        got: object = repr(bounded_yaml.load(content))
    except yaml.YAMLError as err:
        got = (type(err).__name__, str(err))
    assert got == _python_result(content)


def test_the_tricky_files_are_composed_in_c() -> None:
    composed = [
        name
        for name, content in TRICKY.items()
        if bounded_yaml._libyaml_documents(content, bounded_yaml.TREE_LIMITS) is not None
    ]
    # libyaml refuses a surrogate escape in a key; TreeLoader reads those.
    assert len(composed) == len(TRICKY) - 2


def test_a_small_file_with_aliases_is_composed_in_c_and_shares_as_before() -> None:
    text = "a: &x {k: [1, 2]}\nb: *x\nc: [*x, *x]\n"
    assert bounded_yaml._libyaml_documents(text, bounded_yaml.TREE_LIMITS) is not None
    data = bounded_yaml.load(text)
    assert data == {"a": {"k": [1, 2]}, "b": {"k": [1, 2]}, "c": [{"k": [1, 2]}] * 2}
    assert data["a"] is data["b"] is data["c"][0]  # one object, as PyYAML's constructor has it
    # Three alias uses: over a bound of two, read (and refused) by the Python composer.
    limits = bounded_yaml.Limits(
        max_bytes=1000, max_depth=10, max_nodes=100, max_aliases=2, max_int_digits=5
    )
    with pytest.raises(LimitError) as caught:
        bounded_yaml.load(text, limits)
    assert caught.value.problem == "more than 2 aliases (*name); at most 2 are allowed"
    # Expanded, the aliases count every value they stand for, as the Python composer does.
    loader = bounded_yaml.TreeLoader(text)
    loader.get_single_node()
    fast = bounded_yaml._libyaml_documents(text, bounded_yaml.TREE_LIMITS)
    assert fast is not None and fast[1][0] is not None
    assert bounded_yaml._expanded(fast[1][0]) == (loader._nodes, 5, loader._aliases) == (25, 5, 3)


NESTED = {
    "compact sequences": "- - - - x\n",
    "sequences under keys, same column": "a:\n- b:\n  - c:\n    - d\n",
    "explicit keys": "? - a\n  - b\n: - c\n",
    "flow in block": "a:\n  b: [1, {c: [2, {d: e}]}]\n",
    "wide indentation": "a:\n" + "".join(" " * (4 * i) + f"k{i}:\n" for i in range(1, 20)),
}


def _depth(node: yaml.Node) -> int:
    children = [c for item in node.value for c in (item if isinstance(item, tuple) else [item])]
    return 1 + max((_depth(c) for c in children if isinstance(c, yaml.Node)), default=0)


def test_the_depth_bound_is_never_below_the_real_depth() -> None:
    """_shallow's argument: nesting ≤ 2 × (latest block start column + 1) + `[`/`{` + 1."""
    texts = [*NESTED.values(), *(p.read_text() for p in sorted(SNAPSHOTS.rglob("*.yaml")))]
    for text in texts:
        latest = max(len(m.group()) for m in re.finditer(r"(?m)^[ \t?:-]*", text))
        bound = 2 * (latest + 1) + text.count("[") + text.count("{") + 1
        for node in yaml.compose_all(text, Loader=yaml.CSafeLoader):
            if isinstance(node, yaml.Node) and isinstance(node.value, list):
                assert _depth(node) <= bound, text[:80]
    # Within the bound, the small refusals above are composed in C and refused by counts.
    for name in ("101 levels of flow nesting", "an alias bomb in a few lines"):
        assert bounded_yaml._shallow(REFUSED_SMALL[name][0])
    # At the edges: 40 columns of block starts and 117 brackets, but not one more.
    deep_block = "a:\n" + "".join(" " * (2 * i) + f"k{i}:\n" for i in range(1, 21))
    assert bounded_yaml._shallow(deep_block) and not bounded_yaml._shallow(deep_block + " " * 41)
    assert bounded_yaml._shallow("[" * 117) and not bounded_yaml._shallow("{" * 118)


def test_deep_nesting_in_a_thread_with_a_small_stack_is_refused_not_a_crash() -> None:
    # libyaml's composer recurses in C; text that might nest deeper than a 256 KB stack
    # holds (musl's threads have 128 KB) is left to the Python composer.
    texts = ["[" * 1000 + "]" * 1000, "- " * 1000 + "x", "a:\n" + "".join(
        " " * (i + 1) + "a:\n" for i in range(1000)
    )]  # fmt: skip
    problems: list[object] = []

    def load_each() -> None:
        for text in texts:
            try:
                bounded_yaml.load_all(text)
            except LimitError as err:
                problems.append(err.problem)

    previous = threading.stack_size(256 * 1024)
    try:
        worker = threading.Thread(target=load_each)
        worker.start()
    finally:
        threading.stack_size(previous)
    worker.join()
    assert problems == ["nested more than 100 levels deep; at most 100 are allowed"] * 3
