"""The jinja environment: upstream's delimiters and makejinja's settings, plus our filters.

Settings mirror makejinja's `init_jinja_env` with the values in `makejinja.toml`,
so a tree rendered here is byte-identical to one rendered by `makejinja` run by
hand. makejinja itself is never imported at runtime (its CLI costs ~120 ms).

Filters are pure functions of their arguments: reading files or the environment
from a template is a hidden side effect, so there is none (and no `env` global).
The environment is jinja's sandbox: a template (a user's override in `overrides/`, or one
a pull request adds, rendered by CI with the age key at hand) reaches no Python internals
(`cycler.__init__.__globals__`, `''.__class__.__mro__`), so it can only render.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import posixpath
from collections.abc import Callable, Hashable, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox
import yaml

from generator.bounded_yaml import load_all
from generator.errors import ProblemsError
from generator.process_memo import ProcessMemo
from generator.render.bytecode import TemplateBytecodeCache, set_name, settings_tag

BLOCK_START, BLOCK_END = "#%", "%#"
VARIABLE_START, VARIABLE_END = "#{", "}#"
COMMENT_START, COMMENT_END = "#|", "#|"


class RenderError(ProblemsError):
    """One or more templates failed (raised before anything is written)."""

    # No "nothing was written": check and diff, which never write, raise it too.
    headline = "{n} template error(s); fix them and run again"


class OverrideError(RenderError):
    """overrides/ holds a file clustergen refuses, or a merge patch that does not parse
    or does not apply: the user's file, not a template."""

    headline = "{n} problem(s) in overrides/; fix them and run again"


# --- filters ---------------------------------------------------------------


def nthhost(cidr: str, n: int) -> str:
    """The n-th address of a network (`'10.0.0.0/24' | nthhost(5)` → `10.0.0.5`).

    Negative n counts from the end (-1 is the last address).
    """
    network = ipaddress.ip_network(str(cidr), strict=False)
    if not -network.num_addresses <= n < network.num_addresses:
        raise ValueError(f"{cidr} has {network.num_addresses} addresses; there is no address {n}")
    return str(network[n])


def basename(path: str) -> str:
    return posixpath.basename(str(path))


def b64encode(value: str | bytes) -> str:
    raw = value.encode() if isinstance(value, str) else bytes(value)
    return base64.b64encode(raw).decode("ascii")


def sha256sum(value: str | bytes) -> str:
    raw = value.encode() if isinstance(value, str) else bytes(value)
    return hashlib.sha256(raw).hexdigest()


class _BlockDumper(yaml.SafeDumper):
    """Block style with indented sequences, as Kubernetes manifests are written."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _plain(value: Any) -> Any:
    """Any mapping as a dict and any tuple as a list: the config model may hand out frozen types."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    # Certificates and scripts read better as literal blocks than as escaped one-liners.
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_BlockDumper.add_representer(str, _represent_str)


# to_yaml and to_yaml_scalar are pure, and PyYAML's emitter is most of their cost: a render
# dumps the same values again and again (one securityContext per workload: of the 374 dumps
# of an all-features render, 244 differ), and so do later renders in the same process.
# Each dump is kept by a key that tells apart whatever the dumper writes differently.
_DUMPS: ProcessMemo[str] = ProcessMemo(4096)


def _dump_key(value: Any) -> Hashable | None:
    """A key equal only for values `to_yaml` writes the same (`_plain`'s conversions
    included): True, 1 and 1.0 apart, 0.0 and -0.0 apart, a str and a str subclass apart;
    None for a value of any other type (it is dumped, or refused, every time)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return (kind, value)
    if kind is float:
        return (kind, repr(value))
    if isinstance(value, Mapping):
        items = []
        for k, v in value.items():
            pair = (_dump_key(k), _dump_key(v))
            if pair[0] is None or pair[1] is None:
                return None
            items.append(pair)
        return (dict, tuple(items))
    if isinstance(value, list | tuple):
        keys = []
        for v in value:
            if (key := _dump_key(v)) is None:
                return None
            keys.append(key)
        return (list, tuple(keys))
    return None


def _kept(function: Callable[[Any], str], key: Hashable | None, value: Any) -> str:
    if key is None:
        return function(value)
    return _DUMPS.get((function, key), lambda: function(value))


def to_yaml(value: Any) -> str:
    """Block-style YAML, keys in their given order, no document markers, no trailing newline.

    Without the trailing newline `#{ x | to_yaml | indent(4) }#` on its own line
    leaves no blank line behind.
    """
    return _kept(_block_yaml, _dump_key(value), value)


def _block_yaml(value: Any) -> str:
    text = yaml.dump(
        _plain(value),
        Dumper=_BlockDumper,
        default_flow_style=False,
        sort_keys=False,
        allow_unicode=True,
        width=1_000_000,
    )
    # A bare scalar ends with an explicit document end marker; drop it.
    if text.endswith("\n...\n"):
        text = text[: -len("...\n")]
    return text.removesuffix("\n")


def to_yaml_scalar(value: str | bool | int | float | None) -> str:
    """One YAML flow scalar that parses back to exactly `value`: `key: #{ v | to_yaml_scalar }#`.

    A string is always double-quoted, so no value reads as another type (`yes`, `1e3`,
    `null`) or as YAML syntax (`#`, `: `, a leading `*`, `&` or `!`). PyYAML's emitter
    escapes quotes, backslashes and control characters; other non-ASCII text stays as it
    is, except characters outside the Basic Multilingual Plane (emoji), written `\\U0001F389`.
    Jinja's `tojson` is not used for YAML: it writes an emoji as a UTF-16 surrogate pair
    (`\\ud83c\\udf89`), which Go's YAML parser (Flux, sops, Alertmanager) rejects.
    Numbers, booleans and null are written plain, as YAML 1.1 reads them back.

    Raises TypeError for anything else (a mapping or list belongs in `to_yaml`).
    """
    if value is not None and not isinstance(value, str | bool | int | float):
        raise TypeError(f"to_yaml_scalar takes a string, number, boolean or null, not {value!r}")
    if isinstance(value, str):
        value = str(value)  # a macro's output is a Markup, which SafeDumper does not know
    return _kept(_flow_scalar, _dump_key(value), value)


def _flow_scalar(value: str | bool | int | float | None) -> str:
    text = yaml.dump(
        value,
        Dumper=yaml.SafeDumper,
        default_style='"' if isinstance(value, str) else None,
        allow_unicode=True,
        width=1_000_000,
    )
    # A plain scalar document ends with an explicit document end marker; drop it.
    return text.removesuffix("\n...\n").removesuffix("\n")


def from_yaml_all(text: str) -> list[Any]:
    """Every non-empty document of the YAML stream `text`, in order (safe loader).

    For YAML a template builds as text (a document reads the final files with
    `rendered.yaml(path)` instead: generator/render/rendered.py). Raises yaml.YAMLError
    when `text` is not YAML, or crosses the bounds of generator/bounded_yaml.py (an
    override can hand it an alias bomb).
    """
    return [doc for doc in load_all(str(text)) if doc is not None]


FILTERS: tuple[Any, ...] = (
    nthhost,
    basename,
    to_yaml,
    to_yaml_scalar,
    b64encode,
    sha256sum,
    from_yaml_all,
)


# --- environment -------------------------------------------------------------

# The largest string or list `*` may build, and the largest exponent of `**`: far above what
# any template needs (the largest rendered file is ~1 MB), far below what exhausts memory.
MAX_REPEAT = 10_000_000
MAX_EXPONENT = 1_000


class _Sandbox(jinja2.sandbox.SandboxedEnvironment):
    """jinja's sandbox, with `*` and `**` bounded: `#{ "a" * 10**11 }#` is a template error
    naming its line, not a MemoryError."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(
        self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any
    ) -> Any:
        if operator == "**" and isinstance(right, int) and abs(right) > MAX_EXPONENT:
            raise jinja2.exceptions.SecurityError(
                f"an exponent above {MAX_EXPONENT} ({right}) is not allowed in a template"
            )
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                repeats = isinstance(seq, str | list | tuple) and isinstance(times, int)
                if repeats and len(seq) * times > MAX_REPEAT:
                    raise jinja2.exceptions.SecurityError(
                        f"repeating a value of {len(seq)} items {times} times exceeds "
                        f"{MAX_REPEAT} items, more than any template needs"
                    )
        return super().call_binop(context, operator, left, right)

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        # The environment's own globals where a template adds none, not jinja's ChainMap
        # over an empty dict: each render and each import copies a template's globals
        # into a new context, and a ChainMap is read key by key in Python (~4 % of a
        # warm render). Still live: what the render adds later (`namespaces`, `rendered`)
        # is seen. Nothing here loads a template with globals of its own.
        return super().make_globals(d) if d else self.globals


# Everything but the loader and the cache; the bytecode cache is keyed by these too.
_OPTIONS: dict[str, Any] = {
    "block_start_string": BLOCK_START,
    "block_end_string": BLOCK_END,
    "variable_start_string": VARIABLE_START,
    "variable_end_string": VARIABLE_END,
    "comment_start_string": COMMENT_START,
    "comment_end_string": COMMENT_END,
    "line_statement_prefix": None,
    "line_comment_prefix": None,
    "trim_blocks": True,
    "lstrip_blocks": True,
    "newline_sequence": "\n",
    "keep_trailing_newline": True,
    # jinja's optimizer folds constant expressions while compiling: it never changes what
    # renders (makejinja's default is True: tests/golden's snapshots, made with it, are
    # unchanged without it), and it was 14 % of a first run's compile (30 of 218 ms for
    # the sample) to save under 1 ms of a 20 ms render.
    "optimized": False,
    "undefined": jinja2.StrictUndefined,
    "finalize": None,
    "autoescape": False,
    # makejinja uses 0 (no cache); imported macro files are loaded once per
    # template otherwise. Output is the same either way.
    "cache_size": 400,
    "auto_reload": False,
}

# One cache per template set, shared by every environment of this process over that set
# and, through the user's cache directory, by later runs: each process would otherwise
# compile every template.
_SETTINGS_TAG = settings_tag(
    [
        *sorted(_OPTIONS.items()),
        *sorted(f.__name__ for f in FILTERS),
        ("sandboxed", sorted(_Sandbox.intercepted_binops)),
    ]
)
_BYTECODE_CACHES: dict[tuple[str, ...], TemplateBytecodeCache] = {}


def bytecode_cache(search_paths: Sequence[Path]) -> TemplateBytecodeCache:
    """The compiled-template cache of the set `search_paths` (generator/render/bytecode.py)."""
    key = tuple(str(p) for p in search_paths)
    if key not in _BYTECODE_CACHES:
        _BYTECODE_CACHES[key] = TemplateBytecodeCache(_SETTINGS_TAG, name=set_name(key))
    return _BYTECODE_CACHES[key]


class _Loader(jinja2.FileSystemLoader):
    """A FileSystemLoader that reads each template once per environment: the compile
    split (precompile.py) reads every template's source to weigh it and check the cache
    just before the render loads each one. Templates do not change during a render."""

    def __init__(self, search_paths: Sequence[str]) -> None:
        super().__init__(list(search_paths))
        self._read: dict[str, tuple[str, str, Callable[[], bool]]] = {}

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        if template not in self._read:
            self._read[template] = super().get_source(environment, template)
        return self._read[template]


def make_environment(
    search_paths: Sequence[Path], globals: Mapping[str, Any] | None = None
) -> jinja2.Environment:
    """A fresh environment loading templates from `search_paths` (first match wins).

    `globals` become jinja globals, as makejinja does with its data: unlike
    render arguments they are visible inside imported macro files too. A new
    environment per context keeps renders independent; the shared bytecode
    cache keeps that cheap.
    """
    env = _Sandbox(
        loader=_Loader([str(p) for p in search_paths]),
        bytecode_cache=bytecode_cache(search_paths),
        **_OPTIONS,
    )
    env.filters.update({f.__name__: f for f in FILTERS})
    if globals:
        env.globals.update(globals)
    return env
