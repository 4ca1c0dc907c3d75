"""Filters and environment settings."""

from __future__ import annotations

import types
from pathlib import Path

import jinja2
import jinja2.sandbox
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from generator.render.environment import (
    b64encode,
    basename,
    make_environment,
    nthhost,
    sha256sum,
    to_yaml,
    to_yaml_scalar,
)


def test_nthhost() -> None:
    assert nthhost("10.0.0.0/24", 1) == "10.0.0.1"
    assert nthhost("10.0.0.0/24", 10) == "10.0.0.10"
    assert nthhost("10.0.0.0/24", -1) == "10.0.0.255"
    assert nthhost("10.0.0.17/24", 0) == "10.0.0.0"
    assert nthhost("fd00::/64", 2) == "fd00::2"
    with pytest.raises(ValueError, match="has 256 addresses"):
        nthhost("10.0.0.0/24", 256)


def test_small_filters() -> None:
    assert basename("/a/b/c.yaml") == "c.yaml"
    assert b64encode("hi") == "aGk=" == b64encode(b"hi")
    assert sha256sum("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_to_yaml_block_style_in_given_order_without_markers() -> None:
    value = {"z": 1, "a": {"list": [1, {"k": "v"}]}, "cert": "line1\nline2\n"}

    text = to_yaml(value)

    assert text == ("z: 1\na:\n  list:\n    - 1\n    - k: v\ncert: |\n  line1\n  line2")
    assert yaml.safe_load(text + "\n") == value  # as placed on its own template line
    assert to_yaml("plain") == "plain"
    assert to_yaml(types.MappingProxyType({"b": (1, 2)})) == "b:\n  - 1\n  - 2"


def _typed(value: object) -> object:
    """value with the type of every part spelled out: 1, True and 1.0 differ, as do 0.0
    and -0.0 (Python's == takes each pair as equal)."""
    if isinstance(value, dict):
        return ("dict", [(_typed(k), _typed(v)) for k, v in value.items()])
    if isinstance(value, list | tuple):
        return ("list", [_typed(v) for v in value])
    return (type(value).__name__, repr(value))


# Values equal to Python, but each written as itself; each pair in both orders.
_LOOK_ALIKE = [0, False, 0.0, -0.0, "0", None, 1, True, 1.0, "1", [1], [True], {"a": 1}]
_LOOK_ALIKE += [{"a": True}, {"a": 1.0}, {1: "a"}, {True: "a"}, {"b": 2, "a": 1}, {"a": 1, "b": 2}]


def test_to_yaml_writes_each_value_as_itself_however_often_an_equal_one_came() -> None:
    for value in _LOOK_ALIKE + _LOOK_ALIKE[::-1]:
        assert _typed(yaml.safe_load(to_yaml(value) + "\n")) == _typed(value)
        if not isinstance(value, list | dict):
            assert _typed(yaml.safe_load(f"k: {to_yaml_scalar(value)}")["k"]) == _typed(value)
    assert to_yaml(types.MappingProxyType({"a": (1,)})) == to_yaml({"a": [1]}) == "a:\n  - 1"


_SMALL_TEXT = st.text(alphabet="ab :#-\n", max_size=6)
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-2, 2), st.sampled_from([0.0, -0.0, 1.0])
)
_VALUES = st.recursive(
    st.one_of(_SCALARS, _SMALL_TEXT),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.one_of(st.booleans(), st.integers(-2, 2), _SMALL_TEXT), inner, max_size=3
        )
    ),
    max_leaves=6,
)


@given(st.lists(_VALUES, min_size=2, max_size=6))
def test_to_yaml_gives_equal_values_of_other_types_their_own_text(values: list[object]) -> None:
    for value in values + values[::-1]:
        assert _typed(yaml.safe_load(to_yaml(value) + "\n")) == _typed(value)


# Text YAML can hold: every code point but surrogates (not encodable as UTF-8).
_TEXT = st.text(st.characters(exclude_categories=["Cs"]))


@given(_TEXT)
def test_to_yaml_scalar_parses_back_to_exactly_the_string(value: str) -> None:
    rendered = to_yaml_scalar(value)
    assert "\n" not in rendered  # one line, safe after `key: ` or `- `
    assert yaml.safe_load(f"key: {rendered}\n") == {"key": value}
    assert yaml.safe_load(f"- {rendered}\n- [{rendered}]\n") == [value, [value]]


@pytest.mark.parametrize(
    "value", ['a "b" \\ # c: d', "*alias", "&anchor", "yes", "null", "1e3", "0o17", "ü 🎉", ""]
)
def test_to_yaml_scalar_keeps_strings_strings(value: str) -> None:
    assert yaml.safe_load(f"k: {to_yaml_scalar(value)}") == {"k": value}


@given(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False)))
def test_to_yaml_scalar_numbers_booleans_and_null_keep_their_type(value: object) -> None:
    assert yaml.safe_load(f"k: {to_yaml_scalar(value)}") == {"k": value}  # type: ignore[arg-type]


def test_to_yaml_scalar_refuses_collections_and_takes_macro_output(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="to_yaml"):
        to_yaml_scalar(["a"])  # type: ignore[arg-type]
    (tmp_path / "t.j2").write_text(
        '#% macro m() %#x "y"#% endmacro %#k: #{ m() | to_yaml_scalar }#'
    )
    rendered = make_environment([tmp_path]).get_template("t.j2").render()
    assert yaml.safe_load(rendered) == {"k": 'x "y"'}


def test_strict_undefined_and_filters_registered(tmp_path: Path) -> None:
    (tmp_path / "t.j2").write_text("#{ cidr | nthhost(3) }# #{ cidr | sha256sum | length }#")
    env = make_environment([tmp_path], globals={"cidr": "10.0.0.0/8"})

    assert env.get_template("t.j2").render() == "10.0.0.3 64"
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("#{ nope }#").render()


@pytest.mark.parametrize(
    "expression",
    [
        "cycler.__init__.__globals__",
        "''.__class__.__mro__[1].__subclasses__()",
        "lipsum.__globals__['os'].getcwd()",
        '("a" * 10**11) | length',  # bounded: a MemoryError otherwise
        "[0] * 100000000",
        "2 ** 10000000",
    ],
)
def test_a_template_reaches_no_python_internals(tmp_path: Path, expression: str) -> None:
    # Overrides and templates a pull request adds render in CI with the age key at hand.
    env = make_environment([tmp_path])

    with pytest.raises(jinja2.exceptions.SecurityError):
        env.from_string(f"#{{ {expression} }}#").render()


def test_environments_are_independent(tmp_path: Path) -> None:
    (tmp_path / "t.j2").write_text("#{ name }#")

    first = make_environment([tmp_path], globals={"name": "one"})
    second = make_environment([tmp_path], globals={"name": "two"})

    assert first.get_template("t.j2").render() == "one"
    assert second.get_template("t.j2").render() == "two"
    assert "env" not in first.globals  # no os.environ behind the renderer's back


def test_a_global_set_after_a_template_loaded_reaches_it_and_its_imports(tmp_path: Path) -> None:
    # render_tree publishes `namespaces` and `rendered` after the namespace facts loaded.
    (tmp_path / "m.j2").write_text("#% macro shown() %##{ late }##% endmacro %#")
    (tmp_path / "t.j2").write_text('#% import "m.j2" as m %##{ early }#-#{ m.shown() }#')
    env = make_environment([tmp_path], globals={"early": "a"})
    template = env.get_template("t.j2")
    env.globals["late"] = "b"
    assert template.render() == "a-b"
    assert template.render(early="c") == "c-b"
    assert env.get_template("t.j2").render() == "a-b"  # a render's own values stay its own


def test_edited_template_is_recompiled(tmp_path: Path) -> None:
    template = tmp_path / "t.j2"
    template.write_text("old")
    assert make_environment([tmp_path]).get_template("t.j2").render() == "old"
    template.write_text("new")
    assert make_environment([tmp_path]).get_template("t.j2").render() == "new"


def test_from_yaml_all_is_bounded_against_an_alias_bomb(tmp_path: Path) -> None:
    # An override hands it what it likes: ten levels of nine aliases are 10^9 values.
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    env = make_environment([tmp_path], globals={"bomb": "\n".join(lines)})

    with pytest.raises(yaml.YAMLError, match="expands to more than 1000000 values"):
        env.from_string("#{ bomb | from_yaml_all | to_yaml }#").render()
