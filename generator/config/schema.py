"""Validate against schemas/cluster.schema.json and word every error for a human.

The schema carries two extension keywords we read here: `x-message` (how to
say "this value has the wrong shape" for a pattern/format/anyOf) and
`x-messages` (per-keyword wording, e.g. for `required` inside an if/then).
Values of keys marked `x-secret` are never echoed back.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from generator.config.locate import KeyPath
from generator.config.text import control_characters, printable
from generator.config.urls import mask_userinfo, repo_url_hint
from generator.errors import shown
from generator.paths import SCHEMA_FILE

if TYPE_CHECKING:
    # jsonschema costs more to import than a configure with nothing changed takes:
    # loaded when a config is validated, not when this module is.
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

Schema = dict[str, Any]
Finding = tuple[KeyPath, str]

_BOOLISH = {"yes", "no", "on", "off", "y", "n"}
_TYPE_WORDS = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping of keys",
    "null": "empty",
}


@functools.cache
def load_schema() -> Schema:
    schema: Schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return schema


@functools.cache
def _ecma_regex(pattern: str) -> re.Pattern[str]:
    """`pattern` (ECMA-262, as JSON Schema says) compiled by Python's re: `$` outside a
    character class becomes `\\Z`, since re's `$` also matches before a final newline.
    Our patterns use no other construct whose meaning differs between the two (they
    spell digits [0-9], not \\d). Not the `regress` package: its backtracking is
    exponential on the domain pattern (a 60-character name took minutes)."""
    out: list[str] = []
    in_class = False
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            out.append(pattern[index : index + 2])
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "$":
            char = "\\Z"
        out.append(char)
        index += 1
    return re.compile("".join(out))


def matches_pattern(pattern: str, text: str) -> bool:
    """JSON Schema `pattern` semantics: an ECMA-262 regex searched unanchored; `$` does not
    match before a final newline, as Python's re.search would."""
    return _ecma_regex(pattern).search(text) is not None


def _ecma_pattern(
    validator: Validator, pattern: str, instance: Any, schema: Schema
) -> Iterator[ValidationError]:
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and not matches_pattern(pattern, instance):
        yield ValidationError(f"{shown(printable(instance))} does not match {shown(pattern)}")


def _is_whole_number(checker: object, instance: Any) -> bool:
    # JSON Schema counts 1500.0 as an integer, but YAML keeps it a float and templates
    # would render `mtu: 1500.0`, which Talos rejects: only a real int is whole.
    return isinstance(instance, int) and not isinstance(instance, bool)


@functools.cache
def _validator() -> Validator:
    from jsonschema import Draft202012Validator, FormatChecker, validators

    ecma: type[Validator] = validators.extend(  # type: ignore[no-untyped-call]
        Draft202012Validator,
        {"pattern": _ecma_pattern},
        type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_whole_number),
    )
    validator = ecma(load_schema(), format_checker=FormatChecker(formats=["ipv4"]))
    return validator


def warm_up() -> None:
    """Build the validator (jsonschema's import and our schema) ahead of `validate`."""
    _validator()


def is_multiline(path: KeyPath) -> bool:
    """Whether the key at `path` takes several lines (`x-multiline` in the schema)."""
    schema = property_schema(path)
    return bool(schema and schema.get("x-multiline"))


def resolve(schema: Schema) -> Schema:
    """Follow a local `$ref` (our schema only uses #/$defs/...)."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target: Schema = load_schema()["$defs"][ref.removeprefix("#/$defs/")]
        return {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def property_schema(path: KeyPath) -> Schema | None:
    """The schema of the property at `path` (list indexes step into `items`)."""
    node: Schema = load_schema()
    for part in path:
        node = resolve(node)
        if isinstance(part, int):
            items = node.get("items")
            if not isinstance(items, dict):
                return None
            node = items
        else:
            props = node.get("properties", {})
            if part not in props:
                return None
            node = props[part]
    return resolve(node)


def is_secret(path: KeyPath) -> bool:
    schema = property_schema(path)
    return bool(schema and schema.get("x-secret"))


def _types(schema: Schema) -> set[str]:
    schema = resolve(schema)
    declared = schema.get("type")
    types = {declared} if isinstance(declared, str) else set(declared or [])
    for branch in schema.get("anyOf", []):
        types |= _types(branch)
    return types


def restore_number_texts(data: dict[str, Any], number_texts: Mapping[KeyPath, str]) -> set[KeyPath]:
    """Give back the written text where YAML read a number but the key takes only text
    (a schematic ID of digits, `branch: 2024`); in place. Returns the paths given back."""
    restored: set[KeyPath] = set()
    for path, text in number_texts.items():
        schema = property_schema(path)
        types = _types(schema) if schema else set()
        if "string" not in types or types & {"integer", "number"}:
            continue
        parent: Any = data
        for part in path[:-1]:
            parent = parent[part]
        parent[path[-1]] = text
        restored.add(path)
    return restored


# Hints computed from the offending value, named by the schema's `x-hint`.
HINTS: dict[str, Callable[[Any], str | None]] = {"repo-url": repo_url_hint}


def validate(data: Mapping[str, Any]) -> list[Finding]:
    """Every schema violation in `data` as (key path, human message); a value holding a
    control character is reported as that alone."""
    controls = list(control_characters(data, is_multiline))
    flagged = {path for path, _ in controls}
    return controls + [
        finding
        for error in _validator().iter_errors(data)
        for finding in _translate(error)
        if not any(finding[0][:end] in flagged for end in range(len(finding[0]) + 1))
    ]


def _translate(error: ValidationError) -> Iterator[Finding]:
    path: KeyPath = tuple(error.absolute_path)
    kind = str(error.validator)
    schema: Schema = error.schema if isinstance(error.schema, dict) else {}
    instance = error.instance
    custom = schema.get("x-messages", {}).get(kind)

    if kind == "required":
        present = instance if isinstance(instance, dict) else {}
        required = error.validator_value if isinstance(error.validator_value, list) else []
        for key in required:
            if key not in present:
                yield (*path, key), custom or "is required"
        return
    if kind == "additionalProperties":
        yield from _unknown_keys(path, schema, instance)
        return
    if custom:
        yield path, custom
        return
    got = _got(path, instance)
    shape = schema.get("x-message")
    if kind == "type":
        yield path, _type_message(schema, instance, got, shape)
    elif kind in ("enum", "const"):
        yield path, _enum_message(error.validator_value, instance, got, kind)
    elif kind in ("pattern", "format", "anyOf", "oneOf", "not") and shape:
        hint = HINTS[schema["x-hint"]](instance) if schema.get("x-hint") in HINTS else None
        yield path, shape + _paren(got, hint)
    elif kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None and high is not None:
            bounds = f"from {low} to {high}"
        else:
            bounds = f"{'at least' if 'inimum' in kind else 'at most'} {error.validator_value}"
        yield path, f"must be {bounds}" + _paren(got)
    elif kind == "minItems":
        yield path, f"must list at least {error.validator_value} item(s)"
    elif kind == "uniqueItems":
        yield path, "lists the same entry twice"
    elif kind == "minLength":
        yield path, "must not be empty"
    elif kind == "maxLength":
        yield path, f"must be at most {error.validator_value} characters"
    elif shape:
        yield path, shape + _paren(got)
    else:
        yield path, error.message


def _paren(*parts: str | None) -> str:
    shown = [p for p in parts if p]
    return f" ({'; '.join(shown)})" if shown else ""


def _got(path: KeyPath, value: Any) -> str | None:
    if is_secret(path):
        return None
    if isinstance(value, str):
        value = mask_userinfo(value)
        return f"got '{printable(value if len(value) <= 60 else value[:57] + '...')}'"
    if isinstance(value, bool):
        return f"got {str(value).lower()}"
    if value is None:
        return "got nothing"
    if isinstance(value, int | float):
        return f"got {value}"
    return "got a list" if isinstance(value, list) else "got a mapping"


def _type_message(schema: Schema, value: Any, got: str | None, shape: str | None) -> str:
    expected = schema.get("type")
    names = [expected] if isinstance(expected, str) else list(expected or [])
    if "boolean" in names and isinstance(value, str) and value.lower() in _BOOLISH:
        return "must be true or false" + _paren(got, f"'{value}' is plain text here")
    if shape:
        return shape + _paren(got)
    words = " or ".join(_TYPE_WORDS.get(n, n) for n in names if n != "null") or "empty"
    return f"must be {words}" + _paren(got)


def closest(value: str, options: list[str]) -> str | None:
    """The option `value` most likely meant, or None.

    A word of one option (`tunnel` of `cloudflare-tunnel`) wins over spelling
    similarity, which alone would pick `none` (difflib ratio 0.6) for `tunnel`.
    """
    word = value.lower()
    parts = [o for o in options if word in re.split(r"[-_.]", o.lower())]
    if len(parts) == 1:
        return parts[0]
    match = difflib.get_close_matches(value, options, n=1, cutoff=0.6)
    return match[0] if match else None


def _enum_message(allowed: Any, value: Any, got: str | None, kind: str) -> str:
    options = [allowed] if kind == "const" else [a for a in allowed if a is not None]
    close = None
    if isinstance(value, str):
        match = closest(value, [str(o) for o in options])
        close = f"did you mean '{match}'?" if match else None
    return f"must be one of: {', '.join(str(o) for o in options)}" + _paren(got, close)


def _unknown_keys(path: KeyPath, schema: Schema, instance: Any) -> Iterator[Finding]:
    known = list(schema.get("properties", {}))
    present = instance if isinstance(instance, dict) else {}
    for key in present:
        if key in known:
            continue
        if not path and key == "derived":
            yield (key,), "is computed by clustergen and cannot be set in cluster.yaml"
            continue
        close = closest(str(key), known)
        shown = printable(str(key))
        if close:
            yield (*path, key), f"unknown key '{shown}' (did you mean '{close}'?)"
        else:
            yield (*path, key), f"unknown key '{shown}' (allowed: {', '.join(known)})"
