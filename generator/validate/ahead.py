"""Validation's work on single files, done ahead, in configure's validation worker.

While the parent still renders, encrypts and plans, the worker (generator/
validation_worker.py) is handed each rendered file as it is made (`check_file`): it parses
it and checks its objects against their schemas, and a workflow against GitHub's, into
the one `ParseCache` and `SchemaStore` the tree's validation then uses (`validate_tree`).
Both are keyed by content (parse_cache.py, schema_results.py), so a file the write
changes afterwards (a hand edit merged in) is simply parsed and checked again: the
findings are the ones a validation from scratch gives. Secrets are never handled here,
and only what the tree's validation would remember is checked: no object of a file with
Flux variables, nothing outside the manifests and workflows.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence

from generator.secrets.files import is_secret_path
from generator.validate.documents import Finding, is_object, is_yaml, may_hold_objects
from generator.validate.objects import without_sops
from generator.validate.parse_cache import ParseCache
from generator.validate.schemas import DEFAULT_LOCATION, SchemaStore
from generator.validate.substitute import Decrypt
from generator.validate.tool_configs import check_tool_configs, is_workflow

# The store of this process's checks ahead, by schema locations; none until one is made.
_stores: dict[tuple[str, ...], SchemaStore] = {}
# The parses of this process's checks ahead (parse_cache.py), made with the first.
_parses: list[ParseCache] = []


def _store(locations: Sequence[str]) -> SchemaStore:
    key = tuple(locations) or (DEFAULT_LOCATION,)
    if key not in _stores:
        _stores[key] = SchemaStore(key)
    return _stores[key]


def check_file(path: str, content: bytes, schema_locations: Sequence[str]) -> None:
    """Parse one rendered YAML file ahead and check its objects (or workflow), keeping
    both for `validate_tree`. A secret is left alone, a file that does not parse is left
    to the tree's validation (which reports it), and only objects whose results the
    tree's validation would keep are checked: none in a file with Flux variables."""
    if is_secret_path(path) or not is_yaml(path):
        return
    if not _parses:
        _parses.append(ParseCache())
    docs, problems = _parses[0].parse(path, content)
    objects = may_hold_objects(path)
    if problems or b"${" in content or not (objects or is_workflow(path)):
        return
    store = _store(schema_locations)
    if not objects:
        for _ in check_tool_configs({path: docs}, (), store.results):
            pass
        return
    for doc in docs:
        if is_object(doc) and doc.kind != "Secret":
            store.check(without_sops(doc.data), remember=True)


def validate_tree(
    files: Mapping[str, bytes], *, schema_locations: Sequence[str], decrypt: Decrypt | None
) -> list[Finding]:
    """`generator.validate.validate_tree` (looked up by that name, as an in-process caller
    does), with the store the checks ahead filled when there were any."""
    validate = importlib.import_module("generator.validate").validate_tree
    key = tuple(schema_locations) or (DEFAULT_LOCATION,)
    findings: list[Finding] = validate(
        files,
        schema_locations=schema_locations,
        decrypt=decrypt,
        store=_stores.get(key),
        parses=_parses[0] if _parses else None,
    )
    return findings
