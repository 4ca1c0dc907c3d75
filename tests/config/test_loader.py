"""Malformed YAML becomes a short ConfigError with the line; positions are kept for every key."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from generator.config import loader
from generator.config.loader import LoadedYaml, load_yaml
from generator.errors import ConfigError
from tests.config.conftest import write

MALFORMED: dict[str, tuple[str | bytes, str]] = {
    "tab indentation": (
        "network:\n\tnode_cidr: 10.0.0.0/24\n",
        "cluster.yaml:2:1: invalid YAML: found character '\\t' that cannot start any token; "
        "indent with spaces, not tabs",
    ),
    "unclosed bracket": (
        "network:\n  dns_servers: [1.1.1.1, 1.0.0.1\nnodes: []\n",
        "cluster.yaml:3:6: invalid YAML: expected ',' or ']', but got ':' "
        "(while parsing a flow sequence on line 2); close the '[' or add the missing ','",
    ),
    "unclosed quote": (
        'domain:\n  name: "example.com\nnodes: []\n',
        "cluster.yaml:3:10: invalid YAML: found unexpected end of stream at the end of the file "
        "(while scanning a quoted scalar on line 2); close the quote",
    ),
    "a tab after a value": (
        "network:\n  node_cidr: 10.0.0.0/24\t\n",
        "cluster.yaml:2:25: invalid YAML: found character '\\t' that cannot start any token; "
        "indent with spaces, not tabs",
    ),
    "a tag the value does not fit": (
        "network: !!timestamp soon\n",
        "cluster.yaml:1:10: invalid YAML: cannot read this value as !!timestamp; "
        "remove the '!!' tag; plain values only",
    ),
    "bad indentation": (
        "network:\n  node_cidr: 10.0.0.0/24\n    dns_servers: []\n",
        "cluster.yaml:3:16: invalid YAML: mapping values are not allowed here; "
        "check the indentation and that every key ends with ': '",
    ),
    "duplicate key": (
        "network:\n  node_cidr: 10.0.0.0/24\ndomain:\n  name: a.com\nnetwork: {}\n",
        "cluster.yaml:5:1 network: duplicate key 'network' (lines 1 and 5); keep one of them",
    ),
    "duplicate key inside a list item": (
        "nodes:\n  - name: a\n    address: 10.0.0.1\n    name: b\n",
        "cluster.yaml:4:5 nodes[0].name: duplicate key 'name' (lines 2 and 4); keep one of them",
    ),
    "empty file": ("", "cluster.yaml: the file is empty; start from cluster.sample.yaml"),
    "only comments": (
        "# nothing yet\n",
        "cluster.yaml: the file is empty; start from cluster.sample.yaml",
    ),
    "top-level list": (
        "- network\n- nodes\n",
        "cluster.yaml:1:1: the top level must be a mapping of sections (network:, nodes:, …), "
        "found a list",
    ),
    "top-level scalar": (
        "hello\n",
        "cluster.yaml:1:1: the top level must be a mapping of sections (network:, nodes:, …), "
        "found a single value",
    ),
    "two documents": (
        "network: {}\n---\nnodes: []\n",
        "cluster.yaml:2:1: invalid YAML: but found another document "
        "(expected a single document in the stream on line 1); "
        "keep a single document: remove the '---' line",
    ),
    "binary garbage": (
        b"network:\n  x: \xff\xfe\x00\x01garbage\n",
        "cluster.yaml:2:6: is not UTF-8 text (byte 0xff); is this really the YAML config?",
    ),
    "unclosed brace at the end": (
        "network: {node_cidr: 10.0.0.0/24\n",
        "cluster.yaml:1:33: invalid YAML: expected ',' or '}', but got '<stream end>' at the "
        "end of the file (while parsing a flow mapping on line 1); close the '{' or add the "
        "missing ','",
    ),
    "misaligned keys": (
        "network:\n  node_cidr: 10.0.0.0/24\n dns_servers: []\n",
        "cluster.yaml:3:2: invalid YAML: expected <block end>, but found '<block mapping start>' "
        "(while parsing a block mapping on line 1); "
        "keys of one mapping must start in the same column",
    ),
    "undefined alias": (
        "network: *net\n",
        "cluster.yaml:1:10: invalid YAML: found undefined alias 'net'; "
        "define the anchor (&name) before using *name, or write the value",
    ),
    "control character": (
        "network:\n  x: a\x00b\n",
        "cluster.yaml:2:7: invalid YAML: control character 0x00 is not allowed; "
        "is this a text file?",
    ),
    "unknown tag": (
        "network: !vault abc\n",
        "cluster.yaml:1:10: invalid YAML: could not determine a constructor for the tag '!vault'; "
        "remove the '!' tag; plain values only",
    ),
}  # fmt: skip


@pytest.mark.parametrize(("content", "expected"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_yaml_is_one_short_error(
    tmp_path: Path, content: str | bytes, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_yaml(write(tmp_path, content))
    message = str(caught.value)
    assert message.splitlines()[0] == expected
    assert len(message.splitlines()) <= 3
    assert "Traceback" not in message


def test_every_duplicate_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "a: 1\nb: 2\na: 3\nb: 4\n")
    with pytest.raises(ConfigError) as caught:
        load_yaml(path)
    assert [str(p) for p in caught.value.problems] == [
        "cluster.yaml:3:1 a: duplicate key 'a' (lines 1 and 3); keep one of them",
        "cluster.yaml:4:1 b: duplicate key 'b' (lines 2 and 4); keep one of them",
    ]


def test_missing_file_names_the_path_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_yaml(tmp_path / "cluster.yaml")
    assert str(caught.value).splitlines()[0] == (
        f"{tmp_path / 'cluster.yaml'}: not found; "
        "run `uv run clustergen init` to create it from cluster.sample.yaml"
    )


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"is a directory; pass the path of cluster\.yaml itself"):
        load_yaml(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path: Path) -> None:
    path = write(tmp_path, "a: 1\n")
    path.chmod(0)
    with pytest.raises(ConfigError, match="cannot be read"):
        load_yaml(path)


def test_yaml_1_2_scalars(tmp_path: Path) -> None:
    text = (
        "a: yes\nb: on\nc: no\nd: true\ne: False\nf: 12:30\ng: 2024-01-01\nh: 010\n"
        "i: 0x1f\nj: 1.5\nk: ~\nl:\nm: '20'\nn: 0o17\n"
    )
    data = load_yaml(write(tmp_path, text)).data
    assert data == {
        "a": "yes", "b": "on", "c": "no", "d": True, "e": False, "f": "12:30",
        "g": "2024-01-01", "h": 10, "i": 31, "j": 1.5, "k": None, "l": None, "m": "20", "n": 15,
    }  # fmt: skip


def test_keys_are_always_text(tmp_path: Path) -> None:
    data = load_yaml(write(tmp_path, "1: a\nyes: b\nnull: c\n")).data
    assert data == {"1": "a", "yes": "b", "null": "c"}


def test_positions_of_every_key_and_list_item(tmp_path: Path) -> None:
    text = "network:\n  node_cidr: 10.0.0.0/24\nnodes:\n  - name: a\n    address: 10.0.0.2\n"
    loaded = load_yaml(write(tmp_path, text))
    assert loaded.file == "cluster.yaml"
    assert loaded.positions == {
        (): (1, 1),
        ("network",): (1, 1),
        ("network", "node_cidr"): (2, 3),
        ("nodes",): (3, 1),
        ("nodes", 0): (4, 5),
        ("nodes", 0, "name"): (4, 5),
        ("nodes", 0, "address"): (5, 5),
    }


def test_anchors_and_merge_keys(tmp_path: Path) -> None:
    text = (
        "defaults: &node\n  disk: /dev/sda\n  mtu: 1500\n"
        "nodes:\n  - <<: *node\n    name: a\n    mtu: 9000\n  - *node\n"
    )
    data = load_yaml(write(tmp_path, text)).data
    assert data["nodes"] == [
        {"disk": "/dev/sda", "mtu": 9000, "name": "a"},
        {"disk": "/dev/sda", "mtu": 1500},
    ]


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    data = load_yaml(write(tmp_path, "\ufeffdomain:\n  name: example.com\n")).data
    assert data == {"domain": {"name": "example.com"}}


def test_real_file_name_is_used(tmp_path: Path) -> None:
    path = write(tmp_path, "a: 1\na: 2\n", name="lab.yaml")
    with pytest.raises(ConfigError) as caught:
        load_yaml(path)
    assert str(caught.value.problems[0]).startswith("lab.yaml:2:1 a:")


def _laughs(levels: int = 9) -> str:
    """The 'billion laughs': each level lists the previous one ten times (10**levels values)."""
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * 10)}]")
    return "\n".join(lines) + "\n"


BOUNDED: dict[str, tuple[str | bytes, str]] = {
    "billion laughs": (
        _laughs(),
        "cluster.yaml:5:45: expands to more than 100000 values (aliases count every time they "
        "are used); at most 100000 are allowed",
    ),
    "500 levels of nesting": (
        "network:\n  x: " + "[" * 500 + "]" * 500 + "\n",
        "cluster.yaml:2:36: nested more than 32 levels deep; at most 32 are allowed",
    ),
    "nesting through an alias": (
        "a: &a " + "[" * 20 + "]" * 20 + "\nb: [[[[[[[[[[[[[[*a]]]]]]]]]]]]]]\n",
        "cluster.yaml:2:18: alias *a nests values more than 32 levels deep; "
        "at most 32 are allowed",
    ),
    "too many aliases": (
        "a: &a 1\nb: [" + ", ".join(["*a"] * 201) + "]\n",
        "cluster.yaml:2:805: more than 200 aliases (*name); at most 200 are allowed",
    ),
    "an alias inside its own anchor": (
        "network: &net\n  x: *net\n",
        "cluster.yaml:2:6: alias *net refers to a value that contains it; write the value out",
    ),
    "a lone surrogate": (
        'domain:\n  name: "example\\ud800.com"\n',
        "cluster.yaml:2:9 domain.name: \\ud800 is half of a UTF-16 surrogate pair, "
        "not a character; write the character itself",
    ),
    "a lone surrogate in a key": (
        'network:\n  "\\udfff": 1\n',
        "cluster.yaml:2:3 network: a key: \\udfff is half of a UTF-16 surrogate pair, "
        "not a character; write the character itself",
    ),
    "a huge file": (
        "# " + "x" * (1024 * 1024) + "\n",
        "cluster.yaml: the file is 1048579 bytes; at most 1048576 are read; "
        "is this really the cluster config?",
    ),
}  # fmt: skip


@pytest.mark.parametrize(("content", "expected"), BOUNDED.values(), ids=BOUNDED.keys())
def test_input_beyond_a_bound_is_one_error_saying_what_is_allowed(
    tmp_path: Path, content: str | bytes, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_yaml(write(tmp_path, content))
    assert str(caught.value).splitlines()[0].replace(str(tmp_path) + "/", "") == expected


def test_a_surrogate_pair_is_joined_into_its_character(tmp_path: Path) -> None:
    loaded = load_yaml(write(tmp_path, 'domain:\n  name: "\\ud83d\\ude00"\n'))
    assert loaded.data == {"domain": {"name": "😀"}}


def test_an_integer_too_long_for_a_number_keeps_its_text_and_its_message(tmp_path: Path) -> None:
    loaded = load_yaml(write(tmp_path, "network:\n  vlan_tag: " + "1" * 401 + "\n"))
    assert loaded.data == {"network": {"vlan_tag": "1" * 401}}
    assert loaded.long_numbers == {
        ("network", "vlan_tag"): "integer of 401 digits is too large; at most 19 are allowed"
    }


def test_aliases_within_the_bounds_still_load(tmp_path: Path) -> None:
    loaded = load_yaml(write(tmp_path, _laughs(4)))
    assert loaded.data["l3"][9][9][9][9] == "lol"


def test_loading_the_same_text_again_gives_a_copy_of_its_own(tmp_path: Path) -> None:
    # The text parses once per process; what one caller completes reaches no other.
    path = write(tmp_path, "network:\n  mtu: 1500\nnodes:\n  - name: a\n")
    first = load_yaml(path)
    first.data["network"]["mtu"] = 9000
    first.data["nodes"].append({"name": "b"})
    first.positions.clear()
    again = load_yaml(path)
    assert again.data == {"network": {"mtu": 1500}, "nodes": [{"name": "a"}]}
    assert again.positions[("network", "mtu")] == (2, 3)
    path.write_text("network:\n  mtu: [\n")
    for _ in range(2):  # an error is found again, each time
        with pytest.raises(ConfigError, match=r"cluster\.yaml:2:"):
            load_yaml(path)


# YAML's moving parts, for texts that stress where libyaml and PyYAML's Python parser could
# disagree: indentation, flow collections, quoting and escapes, anchors, tags, directives,
# document markers, line breaks YAML 1.1 knows (\x85, \u2028) and characters it refuses.
_FRAGMENTS = st.sampled_from(
    ["a", "b", "1", "0x1F", "010", "1e3", ".inf", "~", "null", "yes", "true", "2024-01-01",
     ":", ": ", ":\n", "\n", "\n  ", "\n    ", " ", "\t", "- ", "-", "?", "? ", ",", "#", " #c",
     "[", "]", "{", "}", '"', "'", "\\", "\\u00e9", "\\ud83d", "\\ude00", "\\/", "\\x41", "\\N",
     "&x ", "*x", "&y ", "*y", "<<: ", "? <<", "!!str ", "!t ", "!!int ", "! ", "!",
     "%YAML 1.1\n", "%YAML 1.3\n", "%TAG ! tag:a,2000:\n", "---", "---\n", "...\n", "|",
     "|-\n", ">+\n", "é", "😀", "\x85", "\u2028", "\ufeff", "\x00", "\x1b", "\r\n"]
)  # fmt: skip
_TEXTS = st.one_of(
    st.lists(_FRAGMENTS, max_size=40).map("".join),
    # The sample's first lines, cut, repeated or spliced with a fragment.
    st.tuples(st.integers(0, 900), st.integers(0, 900), _FRAGMENTS).map(
        lambda cut: _SAMPLE_HEAD[: cut[0]] + cut[2] + _SAMPLE_HEAD[cut[1] :]
    ),
)
_SAMPLE_HEAD = (Path(__file__).parents[2] / "cluster.sample.yaml").read_text()[:900]


def _outcome(parse: Callable[[str], LoadedYaml], text: str) -> LoadedYaml | str:
    try:
        return parse(text)
    except ConfigError as err:
        return str(err)


@settings(max_examples=300, deadline=None)
@given(text=_TEXTS)
@example(text="a:\n\ufeff  b: 1\n")  # libyaml: {a: {b: 1}}; PyYAML: a BOM then two spaces in a key
@example(text="k:\n- \n- a: \n  b:\n")  # empty values: their marks
@example(text="a: &x {b: 1}\nc:\n  <<: *x\n  b: 2\n")
@example(text="a: !\nb:\n- !\nc: &x !\nd: *x\n")  # libyaml: "" for an empty `!` value
@example(text="a: 1\n? <<")  # no final newline: libyaml marks the empty value a line later
def test_wherever_pyyaml_reads_the_text_libyaml_reads_the_same(text: str) -> None:
    """load_yaml parses with libyaml (the fast path) and falls back to PyYAML's parser in
    Python: where PyYAML reads the text, the outcome must be PyYAML's, to every value,
    position, written number text and problem. Where it refuses the text, libyaml may read
    more (a block scalar's `|#`, a `?` inside a flow scalar): not compared."""
    try:
        python = _outcome(lambda t: loader._build("c.yaml", loader._Loader(t)), text)
    except yaml.YAMLError:
        return
    assert _outcome(lambda t: loader._parse("c.yaml", t), text) == python
