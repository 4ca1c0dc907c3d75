"""The bounded loader for rendered and committed files: bounds hold, ordinary files load alike."""

from __future__ import annotations

import contextlib
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
    # Lines libyaml also breaks at: a guard that counted only \n would let these through.
    "block nesting after a lone CR": (
        "a:\r" + "- " * 30_000 + "x\r", "nested more than 100 levels deep; at most 100 are allowed"
    ),
    "block nesting after NEL": (
        "a:\x85" + "- " * 30_000 + "x", "nested more than 100 levels deep; at most 100 are allowed"
    ),
    "block nesting after LS": (
        "a:\u2028" + "- " * 30_000 + "x",
        "nested more than 100 levels deep; at most 100 are allowed",
    ),
}  # fmt: skip


# Tags whose value PyYAML builds in two steps: a fast path that ran only the first
# returned {} or set() here, or crashed on an unhashable key.
@pytest.mark.parametrize(
    "content",
    ["labels: !!map x", "data:\n  a: !!set x", "data:\n  !!set a: b", "k: !!omap x", "k: !!pairs"],
)
def test_a_collection_tag_on_a_scalar_is_a_yaml_error(content: str) -> None:
    with pytest.raises(yaml.YAMLError):
        bounded_yaml.load_all(content)


# Every tag PyYAML's SafeConstructor builds, on values it cannot read: each once failed
# with its constructor's own KeyError (`!!bool x`), IndexError (`!!float ""`) or
# AttributeError (`!!timestamp x`), an internal error where a file said something odd.
@pytest.mark.parametrize("tag", sorted(t for t in yaml.SafeLoader.yaml_constructors if t))
@pytest.mark.parametrize("value", ["x", '""', "[1]", "{a: 1}"])
def test_an_explicit_tag_on_a_value_it_cannot_read_is_a_yaml_error(tag: str, value: str) -> None:
    with contextlib.suppress(yaml.YAMLError):  # `!!str x` loads; no other error may escape
        bounded_yaml.load(f"k: !<{tag}> {value}\n")


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
