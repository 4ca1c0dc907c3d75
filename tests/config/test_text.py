"""One regex dialect (ECMA-262) for the schema's patterns; control characters are errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.config.schema import load_schema, matches_pattern
from generator.config.text import printable
from tests.config.conftest import BASE, edit, problems, where, write


def _patterns(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            else:
                yield from _patterns(value)
    elif isinstance(node, list):
        for item in node:
            yield from _patterns(item)


ANCHORED = sorted({p for p in _patterns(load_schema()) if p.endswith("$")})


def test_the_schema_has_anchored_patterns() -> None:
    assert len(ANCHORED) >= 15


@pytest.mark.parametrize("pattern", ANCHORED)
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_no_anchored_pattern_accepts_a_trailing_newline(pattern: str, data: st.DataObject) -> None:
    visible_ascii = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
    value = data.draw(st.from_regex(pattern, fullmatch=True, alphabet=visible_ascii))
    assert matches_pattern(pattern, value)
    assert re.search(pattern, value + "\n"), "Python's re would accept it"
    assert not matches_pattern(pattern, value + "\n")
    assert not matches_pattern(pattern, "\n" + value)


# key: (line in BASE, its replacement, start of the replaced line for `where`)
SINGLE_LINE = {
    "nodes[0].name": ("- name: k8s-0", '- name: "k8s-0\\n"', 'name: "k8s-0'),
    "nodes[0].mac_addr": ('mac_addr: "02:00:00:00:00:10"', 'mac_addr: "02:00:00:00:00:10\\n"',
                          "mac_addr"),
    "nodes[0].address": ("address: 192.168.1.10", 'address: "192.168.1.10\\n"', "address"),
    "domain.name": ("name: example.com", "name: |\n  example.com", "name: |"),
    "kubernetes.api.addr": ("addr: 192.168.1.20", 'addr: "192.168.1.20\\r"', "addr"),
    "repository.url": ("url: https://github.com/example/home-ops",
                       'url: "https://github.com/example/home-ops\\t"', "url"),
}  # fmt: skip
WHAT = {"\\n": "a line break (U+000A)", "|": "a line break (U+000A)",
        "\\r": "a carriage return (U+000D)", "\\t": "a tab (U+0009)"}  # fmt: skip


@pytest.mark.parametrize("key", SINGLE_LINE)
def test_a_control_character_in_a_single_line_value_is_one_error_naming_the_key(
    tmp_path: Path, key: str
) -> None:
    old, new, anchor = SINGLE_LINE[key]
    text = edit(BASE, (old, new))
    what = next(w for marker, w in WHAT.items() if marker in new)
    assert problems(write(tmp_path, text)) == [
        f"cluster.yaml:{where(text, anchor)} {key}: holds {what}; it must be one line "
        "of text without control characters (a `|` block keeps its final line break: "
        "write the value plainly)"
    ]


def test_known_hosts_may_hold_line_breaks_and_nothing_else(tmp_path: Path) -> None:
    url = "url: https://github.com/example/home-ops"
    two_lines = edit(
        BASE, (url, f'{url}\nknown_hosts: "a ssh-ed25519 AAAA\\nb ssh-ed25519 BBBB\\n"')
    )
    assert problems(write(tmp_path, two_lines)) == []
    escape = edit(BASE, (url, f'{url}\nknown_hosts: "a ssh-ed25519 AAAA\\e[31m"'))
    assert problems(write(tmp_path, escape)) == [
        f"cluster.yaml:{where(escape, 'known_hosts')} repository.known_hosts: holds a control "
        "character (U+001B); only line breaks (\\n) are allowed in it"
    ]


def test_a_control_character_in_a_key_is_named_escaped(tmp_path: Path) -> None:
    text = edit(BASE, ("name: example.com", 'name: example.com\n"zone\\e[2J": lan'))
    assert problems(write(tmp_path, text)) == [
        f"cluster.yaml:{where(text, chr(34) + 'zone')} domain.zone\\x1b[2J: the key holds a "
        "control character (U+001B); remove it"
    ]


def test_printable_escapes_only_control_characters() -> None:
    assert printable("k8s-0\n\x1b[2J\x85é😀") == "k8s-0\\n\\x1b[2J\\x85é😀"


def test_dollar_ends_the_text_only_outside_classes_and_escapes() -> None:
    assert matches_pattern("^a$", "a") and not matches_pattern("^a$", "a\n")
    assert matches_pattern("^[$]$", "$") and not matches_pattern("^[$]$", "$\n")
    assert matches_pattern("^\\$$", "$") and not matches_pattern("^\\$$", "\\$")


def test_the_schema_spells_digits_as_a_class() -> None:
    # The translation to Python's re relies on it: \d is ASCII in ECMA-262, Unicode in re.
    assert not [p for p in ANCHORED if "\\d" in p]


def test_a_long_hostile_domain_is_rejected_without_backtracking_forever(tmp_path: Path) -> None:
    # Exponential in a backtracking engine without re's optimisations (e.g. regress).
    name = "a-" * 30 + "a." * 5 + "ab-"
    text = edit(BASE, ("name: example.com", f"name: {name}"))
    assert problems(write(tmp_path, text)) == [
        f"cluster.yaml:{where(text, 'name: a-a')} domain.name: must be a lowercase fully "
        f"qualified domain name like example.com (got '{name[:57]}...')"
    ]
