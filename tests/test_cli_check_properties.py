"""Property: whatever YAML (or text) cluster.yaml holds, `clustergen check` never exits 2.

Exit 2 means a bug in clustergen (an internal error); any input, however odd,
must end in 0 or in a user error (1). Runs `cli.main` in-process for speed.
"""

from __future__ import annotations

import contextlib
import copy
import io
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator import cli
from generator.config.schema import load_schema, resolve
from generator.paths import SAMPLE_CONFIG

pytestmark = pytest.mark.slow  # seconds of work: scheduled first (tests/conftest.py)

# 50 examples a property: each is a whole `check` (~25 ms); in CI (derandomized) the same
# 50 every run, on a developer's machine new ones each run. Random subtrees of the sample get
# 40: every key of the schema also gets each odd value in turn (the last test).
SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SUBTREE_SETTINGS = settings(SETTINGS, max_examples=40)
# Text with the characters that have broken loaders: controls, a lone surrogate,
# superscript digits, a byte-order mark, YAML indicators.
ODD_CHARS = st.sampled_from(["\x00", "\x1b", "\n", "\r", "\t", "\x85", "\ud800", "²", "\ufeff",
                             ":", "- ", "&a", "*a", "!", "%", "@", "`", "|", ">", "{",
                             "["])  # fmt: skip
TEXT = st.lists(st.one_of(st.characters(), ODD_CHARS), max_size=30).map("".join)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([10**400, -(2**64), 0, 4094, 4095, 65536]),
    st.floats(),
    TEXT,
    st.sampled_from(["²", "k8s-0\n", "192.168.1.10\n", "yes", "0x1F", "1e400", ".nan", "~"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.one_of(TEXT, st.integers()), children, max_size=5),
    ),
    max_leaves=40,
)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("check") / "cluster.yaml"


def _check(config: Path, content: bytes) -> tuple[int, str]:
    config.write_bytes(content)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(["--debug", "check", "--config", str(config)])
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
    return code, out.getvalue() + err.getvalue()


def _dump(data: Any) -> bytes:
    # libyaml's emitter where it can (5x faster); Python's for what it refuses (a lone
    # surrogate is no UTF-8).
    try:
        text = yaml.dump(data, Dumper=_CDumper, sort_keys=False, allow_unicode=True)
    except (UnicodeError, yaml.YAMLError):
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    return text.encode("utf-8", "surrogatepass")


_CDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _assert_never_internal(config: Path, content: bytes) -> None:
    code, shown = _check(config, content)
    assert code in (0, 1), f"exit {code} for:\n{content[:2000]!r}\n{shown}"


@SETTINGS
@given(data=VALUES)
def test_check_never_exits_2_on_arbitrary_yaml(config: Path, data: Any) -> None:
    _assert_never_internal(config, _dump(data))


@SETTINGS
@given(
    text=st.one_of(TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")), st.binary(max_size=200))
)
def test_check_never_exits_2_on_arbitrary_text(config: Path, text: bytes) -> None:
    # st.text().map(encode) can hold a lone surrogate's bytes (surrogatepass): not UTF-8.
    _assert_never_internal(config, text)


SAMPLE: dict[str, Any] = yaml.safe_load(SAMPLE_CONFIG.read_text(encoding="utf-8"))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, child in items:
        yield from _paths(child, (*prefix, key))


# Every key of the sample, and keys it leaves commented out.
SAMPLE_PATHS = [p for p in _paths(SAMPLE) if p] + [
    ("network", "vlan_tag"),
    ("cilium", "bgp"),
    ("repository", "known_hosts"),
]


@SUBTREE_SETTINGS
@given(replaced=st.lists(st.tuples(st.sampled_from(SAMPLE_PATHS), VALUES), min_size=1, max_size=3))
def test_check_never_exits_2_on_the_sample_with_random_subtrees(
    config: Path, replaced: list[tuple[tuple[Any, ...], Any]]
) -> None:
    data = copy.deepcopy(SAMPLE)
    for path, value in replaced:
        parent = data
        for part in path[:-1]:
            if not isinstance(parent, dict | list):
                break
            try:
                parent = parent[part]
            except (KeyError, IndexError, TypeError):
                break
        else:
            last = path[-1]
            if isinstance(parent, dict) or (
                isinstance(parent, list) and isinstance(last, int) and last < len(parent)
            ):
                parent[last] = value
    _assert_never_internal(config, _dump(data))


def test_the_sample_itself_checks_clean(config: Path) -> None:
    code, shown = _check(config, SAMPLE_CONFIG.read_bytes())
    assert (code, shown.split(":")[0]) == (0, "ok"), shown


def _schema_leaves(node: dict[str, Any], prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    node = resolve(node)
    properties = node.get("properties")
    items = node.get("items")
    if isinstance(properties, dict):
        for key, child in properties.items():
            yield from _schema_leaves(child, (*prefix, key))
    elif isinstance(items, dict):
        yield from _schema_leaves(items, (*prefix, 0))
    else:
        yield prefix


def _set(data: Any, path: tuple[Any, ...], value: Any) -> None:
    """Put `value` at `path`, creating (or replacing) containers on the way."""
    node = data
    for part, following in itertools.pairwise(path):
        kind = list if isinstance(following, int) else dict
        if isinstance(node, list) and not node:
            node.append(kind())
        child = node[part] if isinstance(node, dict) and part in node else None
        if isinstance(node, list):
            child = node[part]
        if not isinstance(child, kind):
            child = kind()
            node[part] = child
        node = child
    if isinstance(node, list) and not node:
        node.append(value)
    else:
        node[path[-1]] = value


# A superscript digit (str.isdigit() but not int()), a number too large for int(),
# a trailing newline, NaN and infinity, a lone surrogate, a wrong shape.
ODD_VALUES = {"superscript": "²", "10**400": 10**400, "newline": "1\n", "nan": float("nan"),
              "-inf": float("-inf"), "surrogate": "\ud800", "shape": [{}]}  # fmt: skip
# Values that reach int() in a rule only at one key: tried at every key in turn.
PER_KEY = ("superscript", "10**400")


LEAVES = list(_schema_leaves(load_schema()))


@pytest.mark.parametrize(
    ("name", "where"),
    [(name, "at every key at once") for name in ODD_VALUES]
    + [(name, "at one key at a time") for name in PER_KEY],
)
def test_check_never_exits_2_for_an_odd_value_at_any_key_of_the_schema(
    config: Path, name: str, where: str
) -> None:
    """Every key at once finds a crash in a rule that never sees a broken parent; one key
    at a time (for the values that reach int()) the rest."""
    value = ODD_VALUES[name]
    documents = [LEAVES] if where == "at every key at once" else [[path] for path in LEAVES]
    failures = []
    for paths in documents:
        data = copy.deepcopy(SAMPLE)  # plain data: as a YAML round trip, 100x faster
        for path in paths:
            _set(data, path, value)
        code, shown = _check(config, _dump(data))
        if code not in (0, 1):
            failures.append(f"{paths[0]}: exit {code}\n{shown[-600:]}")
    assert not failures, "\n".join(failures[:3])
