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

Once the render has left the directories kubectl builds, the worker is handed what it
rendered so far (`build`) and starts kubectl's builds of it in a thread, while the rest
renders and the parent plans; `validate_tree`'s builds wait for them and then find in
kubectl.py's cache, keyed by every input, whatever the write did not change.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from generator.secrets.files import is_secret_path
from generator.validate.documents import Finding, is_object, is_yaml, may_hold_objects
from generator.validate.kubectl import Builds, kubectl_available
from generator.validate.kustomize import Tree
from generator.validate.objects import without_sops
from generator.validate.parse_cache import ParseCache
from generator.validate.schemas import SchemaStore, effective_locations
from generator.validate.substitute import Decrypt
from generator.validate.tool_configs import check_tool_configs, is_workflow
from generator.validate.tree import kustomize_roots
from generator.validation_scope import in_validation_scope, read_tree

# The store of this process's checks ahead, by schema locations; none until one is made.
_stores: dict[tuple[str, ...], SchemaStore] = {}
# The parses of this process's checks ahead (parse_cache.py), made with the first.
_parses: list[ParseCache] = []
# kubectl's builds ahead (`build`), while they run.
_building: list[threading.Thread] = []


def _parse_cache() -> ParseCache:
    if not _parses:
        _parses.append(ParseCache())
    return _parses[0]


def _store(locations: Sequence[str]) -> SchemaStore:
    key = effective_locations(locations)
    if key not in _stores:
        _stores[key] = SchemaStore(key)
    return _stores[key]


def check_file(path: str, content: bytes, schema_locations: Sequence[str]) -> None:
    """Parse one rendered YAML file ahead and check its objects (or workflow), keeping
    both for `validate_tree`. A secret is left alone, a file that does not parse is left
    to the tree's validation (which reports it), and only objects whose results the
    tree's validation would keep are checked: none in a manifest with Flux variables."""
    if is_secret_path(path) or not is_yaml(path):
        return
    docs, problems = _parse_cache().parse(path, content)
    if problems:
        return
    if is_workflow(path):  # its `${{ }}` are GitHub's expressions, kept as they are
        for _ in check_tool_configs({path: docs}, (), _store(schema_locations).results):
            pass
        return
    if b"${" in content or not may_hold_objects(path):
        return
    store = _store(schema_locations)
    for doc in docs:
        if is_object(doc) and doc.kind != "Secret":
            store.check(without_sops(doc.data), remember=True)


def build(rendered: Mapping[str, bytes], workdir: str) -> None:
    """Start kubectl's builds of the tree as rendered so far (the user's files as they are
    on disk, ours as just rendered) in a thread of their own, and return: what builds is
    remembered (kubectl.py's cache, keyed by every input; secrets are key-only stand-ins,
    the same for plaintext and ciphertext), so `validate_tree` skips what the write does
    not change. A secret file that is not YAML is left as it is on disk: its plaintext
    would be written to kubectl's copy."""
    if _building or not kubectl_available():
        return
    tree = read_tree(Path(workdir))
    tree.update(
        (path, content)
        for path, content in rendered.items()
        if in_validation_scope(path) and (is_yaml(path) or not is_secret_path(path))
    )
    try:
        # The Python part (stand-ins, kubectl's copy) here, at once; only kubectl waits
        # in the thread: beside the checks still to run, a thread would get half the
        # interpreter and start kubectl that much later.
        builds = Builds(tree, kustomize_roots(Tree(tree), _parse_cache()), None)
    except Exception:
        return  # only ever a head start
    building = threading.Thread(target=_run, args=(builds,), daemon=True)
    building.start()
    _building.append(building)


def _run(builds: Builds) -> None:
    with contextlib.suppress(Exception):  # only ever a head start
        builds.run()


def _built() -> None:
    for building in _building:
        building.join()


def validate_tree(
    files: Mapping[str, bytes], *, schema_locations: Sequence[str], decrypt: Decrypt | None
) -> list[Finding]:
    """`generator.validate.validate_tree` (looked up by that name, as an in-process caller
    does), with the store the checks ahead filled when there were any."""
    validate = importlib.import_module("generator.validate").validate_tree
    key = effective_locations(schema_locations)
    findings: list[Finding] = validate(
        files,
        schema_locations=schema_locations,
        decrypt=decrypt,
        store=_stores.get(key),
        parses=_parses[0] if _parses else None,
        built_ahead=_built if _building else None,
    )
    return findings
