"""Validation's work on single files, done ahead, in configure's validation worker.

While the parent still renders, encrypts and plans, the worker (generator/
validation_worker.py) is handed each rendered file as it is made (`check_file`): it
checks the file's objects against their schemas, and a workflow against GitHub's, into
the one `SchemaStore` the tree's validation then uses (`validate_tree`). Those results
are keyed by content (schema_results.py), so a file the write later changes (a hand edit
merged in) is simply checked again: the findings are the ones a validation from scratch
gives. Only what the tree's validation would remember is checked ahead: never a secret,
a file with Flux variables, or anything outside the manifests and tool configs.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence

from generator.secrets.files import is_secret_path
from generator.validate.documents import Finding, is_object, may_hold_objects, parse_documents
from generator.validate.objects import without_sops
from generator.validate.schemas import DEFAULT_LOCATION, SchemaStore
from generator.validate.substitute import Decrypt
from generator.validate.tool_configs import check_tool_configs, is_workflow

# The store of this process's checks ahead, by schema locations; none until one is made.
_stores: dict[tuple[str, ...], SchemaStore] = {}


def _store(locations: Sequence[str]) -> SchemaStore:
    key = tuple(locations) or (DEFAULT_LOCATION,)
    if key not in _stores:
        _stores[key] = SchemaStore(key)
    return _stores[key]


def check_file(path: str, content: bytes, schema_locations: Sequence[str]) -> None:
    """Check one rendered file's objects (or workflow) ahead, keeping the results for
    `validate_tree`. Anything it cannot check (not YAML, a syntax error) is left to
    the tree's validation, which reports it."""
    objects = may_hold_objects(path)
    if is_secret_path(path) or b"${" in content or not (objects or is_workflow(path)):
        return
    docs, problems = parse_documents(path, content)
    if problems:
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
        files, schema_locations=schema_locations, decrypt=decrypt, store=_stores.get(key)
    )
    return findings
