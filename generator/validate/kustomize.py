"""kustomization.yaml files: what they reference, whether it exists, and what Flux applies.

A Flux Kustomization builds `spec.path`: through its kustomization.yaml when
there is one, otherwise (Flux generates one) every manifest below it, stopping
at subdirectories that have their own kustomization.yaml.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from generator.errors import shown
from generator.validate.documents import Doc, Finding, is_yaml

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


@dataclass
class KustomizeDir:
    """One kustomization.yaml, with every path it names resolved against the tree root."""

    dir: str
    file: str
    kind: str
    namespace: str | None
    resources: list[str] = field(default_factory=list)
    # (kind, name) of ConfigMaps/Secrets made by configMapGenerator/secretGenerator.
    generated: list[tuple[str, str]] = field(default_factory=list)
    # Patches and generator inputs: YAML that is not an object of its own.
    data_files: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Included:
    """A manifest file a Flux Kustomization applies, and the namespace kustomize forces on it."""

    path: str
    namespace: str | None


class Tree:
    """Which paths exist: files are keys of the mapping, directories are their prefixes."""

    def __init__(self, files: Mapping[str, bytes]) -> None:
        self.files = files
        self.dirs: set[str] = {""}
        for path in files:
            parts = path.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                self.dirs.add("/".join(parts[:i]))

    def is_file(self, path: str) -> bool:
        return path in self.files

    def is_dir(self, path: str) -> bool:
        return path in self.dirs

    def kustomization_in(self, directory: str) -> str | None:
        for name in KUSTOMIZATION_NAMES:
            candidate = posixpath.join(directory, name) if directory else name
            if candidate in self.files:
                return candidate
        return None


def normalize(base: str, ref: str) -> str | None:
    """`ref` relative to directory `base`, as a tree path; None when it leaves the tree."""
    joined = posixpath.normpath(posixpath.join(base, ref)) if base else posixpath.normpath(ref)
    if joined == ".":
        return ""
    if joined.startswith("../") or joined == ".." or joined.startswith("/"):
        return None
    return joined


def _is_remote(ref: str) -> bool:
    return "://" in ref or ref.startswith(("github.com/", "git@"))


def _generator_files(entry: Any) -> Iterator[str]:
    if not isinstance(entry, dict):
        return
    for key in ("files", "envs"):
        for item in entry.get(key) or []:
            if isinstance(item, str):
                yield item.split("=", 1)[-1]
    if isinstance(entry.get("env"), str):
        yield entry["env"]


def load_kustomizations(
    tree: Tree, docs: Mapping[str, list[Doc]]
) -> tuple[dict[str, KustomizeDir], list[Finding]]:
    """Every kustomization.yaml keyed by its directory, with findings for missing references."""
    result: dict[str, KustomizeDir] = {}
    findings: list[Finding] = []
    for path, file_docs in docs.items():
        directory, _, name = path.rpartition("/")
        if name not in KUSTOMIZATION_NAMES or not file_docs or not file_docs[0].is_mapping:
            continue
        doc = file_docs[0]
        kdir = KustomizeDir(directory, path, doc.kind or "Kustomization", doc.get("namespace"))
        result[directory] = kdir
        findings.extend(_resolve(tree, doc, kdir))
    return result, findings


def _resolve(tree: Tree, doc: Doc, kdir: KustomizeDir) -> Iterator[Finding]:
    def missing(ref: str, what: str) -> Finding:
        return Finding(doc.path, f"{what} {shown(ref)} does not exist", doc.line, "Kustomization")

    for key in ("resources", "components", "bases", "crds"):
        for ref in doc.get(key) or []:
            if not isinstance(ref, str) or _is_remote(ref):
                continue
            target = normalize(kdir.dir, ref)
            if target is None:
                yield missing(ref, f"{key} entry (outside the repository)")
            elif tree.is_file(target):
                kdir.resources.append(target)
            elif tree.is_dir(target):
                if tree.kustomization_in(target) is None:
                    yield Finding(
                        doc.path,
                        f"{key} entry {shown(ref)} is a directory without a kustomization.yaml",
                        doc.line,
                        "Kustomization",
                    )
                kdir.resources.append(target)
            else:
                yield missing(ref, f"{key} entry")
    refs: list[tuple[str, str]] = []
    for patch in doc.get("patches") or []:
        if isinstance(patch, dict) and isinstance(patch.get("path"), str):
            refs.append((patch["path"], "patch"))
    refs += [(p, "patch") for p in doc.get("patchesStrategicMerge") or [] if _is_path(p)]
    for key, kind in (("configMapGenerator", "ConfigMap"), ("secretGenerator", "Secret")):
        for entry in doc.get(key) or []:
            if isinstance(entry, dict) and entry.get("name"):
                kdir.generated.append((kind, str(entry["name"])))
            refs += [(f, f"{key} file") for f in _generator_files(entry)]
    for ref, what in refs:
        target = normalize(kdir.dir, ref)
        if target is None or not tree.is_file(target):
            yield missing(ref, what)
        else:
            kdir.data_files.add(target)


def _is_path(value: Any) -> bool:
    # patchesStrategicMerge also accepts inline patches; a path is one line ending in .yaml.
    return isinstance(value, str) and "\n" not in value and is_yaml(value)


def flux_build(
    start: str,
    tree: Tree,
    kdirs: Mapping[str, KustomizeDir],
    components: Sequence[str] = (),
) -> tuple[list[Included], list[KustomizeDir]]:
    """Manifest files a Flux Kustomization with `spec.path` = start (and `spec.components`,
    directories of kustomize Components) applies, and the kustomization.yaml files it goes
    through (for their generated objects)."""
    included: list[Included] = []
    visited: list[KustomizeDir] = []
    # A component included from two namespaces is applied in both.
    seen: set[tuple[str, str | None]] = set()

    def walk(directory: str, namespace: str | None) -> None:
        if (directory, namespace) in seen:
            return
        seen.add((directory, namespace))
        kdir = kdirs.get(directory)
        if kdir is None:
            return
        # An outer kustomization's namespace overrides the inner ones.
        ns = namespace or kdir.namespace
        visited.append(KustomizeDir(kdir.dir, kdir.file, kdir.kind, ns, [], kdir.generated))
        for ref in kdir.resources:
            if tree.is_file(ref):
                included.append(Included(ref, ns))
            else:
                walk(ref, ns)

    if start in kdirs:
        walk(start, None)
        # Flux appends spec.components to the root's own `components:`.
        for component in components:
            walk(component, kdirs[start].namespace)
        return included, visited
    prefix = f"{start}/" if start else ""
    nested = sorted(d for d in kdirs if d.startswith(prefix) and d != start)
    for path in sorted(tree.files):
        if not path.startswith(prefix) or not is_yaml(path):
            continue
        if any(path.startswith(f"{d}/") for d in nested):
            continue
        included.append(Included(path, None))
    for directory in nested:
        if not any(directory.startswith(f"{d}/") for d in nested):
            walk(directory, None)
    for component in components:
        walk(component, None)
    return included, visited


def build_roots(kdirs: Mapping[str, KustomizeDir]) -> list[str]:
    """Directories no other kustomization.yaml includes: building these builds everything."""
    referenced = {ref for k in kdirs.values() for ref in k.resources}
    return sorted(d for d, k in kdirs.items() if d not in referenced and k.kind != "Component")
