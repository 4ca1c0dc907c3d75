"""YAML documents of a rendered tree, with the line each one starts on.

Plain data for every other check: a `Doc` is one parsed YAML document and a
`Finding` is one problem about a file (or an object in it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from generator.bounded_yaml import nodes, syntax_error
from generator.errors import not_utf8

Severity = Literal["error", "warning"]

# Files that are YAML but never Kubernetes objects, by name.
NOT_OBJECT_NAMES = frozenset({"kustomization.yaml", "kustomization.yml", "Kustomization"})
# Only these top-level directories hold manifests that reach the API server.
OBJECT_ROOTS = ("kubernetes/", "bootstrap/")


@dataclass(frozen=True)
class Finding:
    """One problem, printed as `path:line: Kind/name: message`."""

    path: str
    message: str
    line: int | None = None
    obj: str = ""
    severity: Severity = "error"

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        text = f"{self.obj}: {self.message}" if self.obj else self.message
        return f"{where}: {text}" if where else text


@dataclass
class Doc:
    """One YAML document of one file. `text` is its source, for substitution."""

    path: str
    line: int
    index: int
    data: Any
    text: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def is_mapping(self) -> bool:
        return isinstance(self.data, dict)

    def get(self, *keys: str) -> Any:
        """`doc.get("spec", "path")`: nested lookup that yields None on any gap."""
        node: Any = self.data
        for key in keys:
            if not isinstance(node, dict):
                return None
            node = node.get(key)
        return node

    @property
    def kind(self) -> str:
        return str(self.get("kind") or "")

    @property
    def api_version(self) -> str:
        return str(self.get("apiVersion") or "")

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def name(self) -> str:
        return str(self.get("metadata", "name") or "")

    @property
    def namespace(self) -> str | None:
        ns = self.get("metadata", "namespace")
        return str(ns) if ns else None

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name}" if self.kind else ""

    def finding(self, message: str, severity: Severity = "error") -> Finding:
        return Finding(self.path, message, self.line, self.label, severity)


def is_yaml(path: str) -> bool:
    return path.endswith((".yaml", ".yml"))


# What one file's text parses to: (line, data, start, end) of each non-empty document,
# `start:end` its span in the text, and (problem, line) of the YAML error that stopped
# parsing (the documents before it are kept), or None. Plain data: parse_cache keeps it.
Span = tuple[int, Any, int, int]
Parsed = tuple[list[Span], tuple[str, int | None] | None]
Parse = Callable[[str, bytes], tuple[list[Doc], list[Finding]]]


def parse_documents(path: str, content: bytes) -> tuple[list[Doc], list[Finding]]:
    """Every non-empty document of one file, or the finding that stops parsing."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as err:
        undecodable = not_utf8(path, content, err)
        return [], [Finding(path, undecodable.message, undecodable.line)]
    return as_docs(path, text, parse_text(text))


def parse_text(text: str) -> Parsed:
    """What `text` parses to (see `Parsed`)."""
    spans: list[Span] = []
    try:
        for node, data in nodes(text):
            if data is None:
                continue
            start, end = node.start_mark, node.end_mark
            spans.append((start.line + 1, data, start.index, end.index))
    except yaml.YAMLError as err:
        return spans, syntax_error(err, text)
    return spans, None


def as_docs(path: str, text: str, parsed: Parsed) -> tuple[list[Doc], list[Finding]]:
    """The `Doc`s and the finding of `parsed`, the parse of `text`, the content of `path`."""
    spans, error = parsed
    docs = [Doc(path, line, i, data, text[s:e]) for i, (line, data, s, e) in enumerate(spans)]
    if error is None:
        return docs, []
    problem, line = error
    return docs, [Finding(path, f"invalid YAML: {problem}", line)]


def parse_tree(
    files: Mapping[str, bytes], parse: Parse = parse_documents
) -> tuple[dict[str, list[Doc]], list[Finding]]:
    """Parse every YAML file of the tree; findings for files that are not valid YAML.
    `parse` is `parse_documents` or one that remembers (`parse_cache.ParseCache.parse`)."""
    docs: dict[str, list[Doc]] = {}
    findings: list[Finding] = []
    for path in sorted(files):
        if not is_yaml(path):
            continue
        parsed, problems = parse(path, files[path])
        docs[path] = parsed
        findings.extend(problems)
    return docs, findings


def may_hold_objects(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return path.startswith(OBJECT_ROOTS) and name not in NOT_OBJECT_NAMES and is_yaml(path)


def object_shape_findings(doc: Doc) -> list[Finding]:
    """apiVersion, kind and metadata.name are present (documents with neither are data)."""
    if not doc.is_mapping:
        return []
    has_api, has_kind = "apiVersion" in doc.data, "kind" in doc.data
    if not has_api and not has_kind:
        return []
    missing = [k for k, ok in (("apiVersion", has_api), ("kind", has_kind)) if not ok]
    if not doc.name:
        missing.append("metadata.name")
    if not missing:
        return []
    return [doc.finding(f"missing {', '.join(missing)}")]


def is_object(doc: Doc) -> bool:
    return doc.is_mapping and bool(doc.api_version) and bool(doc.kind) and bool(doc.name)
