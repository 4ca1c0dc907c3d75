"""What Flux would apply: which Kustomization owns each file, in which namespace,
and each object after that Kustomization's `postBuild` substitution.

Starts at the Kustomization a FluxInstance creates (`spec.sync.path`) and follows
the Kustomization objects found on the way, carrying the parent's patches to its
children; Kustomizations nothing reaches are started from on their own.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from generator.errors import shown
from generator.validate.documents import Doc, Finding, is_object
from generator.validate.kustomize import KustomizeDir, Tree, flux_build, normalize
from generator.validate.patches import apply_parent_patches
from generator.validate.substitute import (
    Decrypt,
    Decrypted,
    Variables,
    substitute_doc,
    values_of,
)

FLUX_KS_GROUP = "kustomize.toolkit.fluxcd.io"
# What Flux applies lives here; bootstrap/ is applied by helmfile.
FLUX_ROOT = "kubernetes/"


@dataclass
class FluxKs:
    """A Flux Kustomization: rendered, or implied by a FluxInstance (then `doc` is the instance)."""

    doc: Doc
    name: str
    namespace: str | None
    spec: dict[str, Any]
    implicit: bool = False
    path: str | None = None
    variables: Variables | None = None


@dataclass
class Model:
    files: Mapping[str, bytes]
    docs: dict[str, list[Doc]]
    kustomizations: list[FluxKs] = field(default_factory=list)
    owner: dict[str, FluxKs] = field(default_factory=dict)
    # Namespaces kustomize or targetNamespace force on a file (a component can be in several).
    forced_namespaces: dict[str, set[str]] = field(default_factory=dict)
    # The spec of each Flux Kustomization after its parent's patches, by (path, index).
    patched_specs: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    # (kind, namespace, name) of ConfigMaps/Secrets that kustomize generators make.
    generated: set[tuple[str, str | None, str]] = field(default_factory=set)
    own_source: str = "flux-system"
    findings: list[Finding] = field(default_factory=list)
    # Parses of the Secrets decrypted for substitution (plaintext: this run's memory only).
    decrypted: Decrypted = field(default_factory=dict)
    _applied: list[Doc] | None = None
    _by_name: dict[tuple[str, str], list[Doc]] = field(default_factory=dict)
    # Per file, its objects and their (kind, name) index: made again after set_docs, as
    # substitution can change any field.
    _per_file: dict[str, tuple[list[Doc], dict[tuple[str, str], list[Doc]]]] = field(
        default_factory=dict
    )

    def namespaces_of(self, doc: Doc) -> set[str]:
        forced = self.forced_namespaces.get(doc.path)
        if forced:
            return forced
        return {doc.namespace} if doc.namespace else set()

    def namespace_of(self, doc: Doc) -> str | None:
        return min(self.namespaces_of(doc), default=None)

    def spec_of(self, doc: Doc) -> Any:
        return self.patched_specs.get((doc.path, doc.index), doc.get("spec"))

    def objects(self) -> list[Doc]:
        return [doc for path in self.docs for doc in self._objects_of(path)[0]]

    def set_docs(self, path: str, docs: list[Doc]) -> None:
        """Replace the documents of `path` (e.g. by their substituted form)."""
        self.docs[path] = docs
        self._per_file.pop(path, None)

    def _objects_of(self, path: str) -> tuple[list[Doc], dict[tuple[str, str], list[Doc]]]:
        found = self._per_file.get(path)
        if found is None:
            objects = [doc for doc in self.docs[path] if is_object(doc)]
            by_name: dict[tuple[str, str], list[Doc]] = {}
            for doc in objects:
                by_name.setdefault((doc.kind, doc.name), []).append(doc)
            found = self._per_file[path] = (objects, by_name)
        return found

    def applied_objects(self) -> list[Doc]:
        """Objects that reach the cluster: only their references and policies matter."""
        if self._applied is not None:
            return self._applied
        return [d for d in self.objects() if self.applied(d)]

    def freeze(self) -> None:
        """The model is complete: index what the checks look up (once, not per lookup)."""
        self._applied = None
        self._applied = self.applied_objects()
        self._by_name = {}
        for doc in self._applied:
            self._by_name.setdefault((doc.kind, doc.name), []).append(doc)

    def applied(self, doc: Doc) -> bool:
        """Whether anything applies the object: a Flux Kustomization under kubernetes/
        (once there is one to follow), the bootstrap for everything else."""
        return doc.path in self.owner or not (
            self.kustomizations and doc.path.startswith(FLUX_ROOT)
        )

    def find(self, kind: str, name: str, namespace: str | None) -> Doc | None:
        """The applied object of that kind and name; a missing namespace on either side
        matches any."""
        if self._applied is not None:
            candidates = self._by_name.get((kind, name), [])
        else:
            key = (kind, name)
            candidates = [d for path in self.docs for d in self._objects_of(path)[1].get(key, ())]
        for doc in candidates:
            if doc.kind != kind or doc.name != name or not self.applied(doc):
                continue
            namespaces = self.namespaces_of(doc)
            if namespace is None or not namespaces or namespace in namespaces:
                return doc
        return None


def build_model(
    files: Mapping[str, bytes],
    docs: Mapping[str, list[Doc]],
    tree: Tree,
    kdirs: Mapping[str, KustomizeDir],
    decrypt: Decrypt | None,
) -> Model:
    model = Model(files, {path: list(file_docs) for path, file_docs in docs.items()})
    queue: deque[FluxKs] = deque(_from_instances(model))
    done: set[tuple[str, int]] = set()
    while True:
        while queue:
            ks = queue.popleft()
            model.kustomizations.append(ks)
            queue.extend(_apply(model, ks, tree, kdirs, decrypt, done))
        # Kustomizations nothing applies (no FluxInstance in the tree): the shallowest first.
        rest = [
            d
            for d in model.objects()
            if is_flux_ks(d) and (d.path, d.index) not in done and d.path not in model.owner
        ]
        if not rest:
            break
        first = min(rest, key=lambda d: (d.path.count("/"), d.path, d.index))
        done.add((first.path, first.index))
        queue.append(_flux_ks(first, first.data, model.namespace_of(first)))
    model.freeze()
    return model


def is_flux_ks(doc: Doc) -> bool:
    return doc.kind == "Kustomization" and doc.group == FLUX_KS_GROUP


def _flux_ks(doc: Doc, data: dict[str, Any], namespace: str | None) -> FluxKs:
    spec = data.get("spec")
    return FluxKs(doc, doc.name, namespace, spec if isinstance(spec, dict) else {})


def _from_instances(model: Model) -> list[FluxKs]:
    """The Kustomization (and source) flux-operator makes from a FluxInstance's `spec.sync`,
    whether the instance is rendered as an object or as flux-instance chart values."""
    found: dict[tuple[str, str, str], FluxKs] = {}
    for docs in model.docs.values():
        for doc in docs:
            for sync, namespace in _syncs(doc):
                name = str(sync.get("name") or namespace)
                model.own_source = name
                spec = {
                    "path": sync.get("path", ""),
                    "sourceRef": {"kind": sync.get("kind", "GitRepository"), "name": name},
                }
                key = (namespace, name, str(spec["path"]))
                found.setdefault(key, FluxKs(doc, name, namespace, spec, implicit=True))
    return list(found.values())


def _syncs(doc: Doc) -> list[tuple[dict[str, Any], str]]:
    namespace = doc.namespace or "flux-system"
    candidates = [
        doc.get("spec", "sync") if doc.kind == "FluxInstance" else None,
        doc.get("spec", "values", "instance", "sync") if doc.kind == "HelmRelease" else None,
        # A values file of the flux-instance chart (configMapGenerator input, helmfile values).
        doc.get("instance", "sync") if not doc.kind else None,
    ]
    return [(c, namespace) for c in candidates if isinstance(c, dict) and c.get("path")]


def _apply(
    model: Model,
    ks: FluxKs,
    tree: Tree,
    kdirs: Mapping[str, KustomizeDir],
    decrypt: Decrypt | None,
    done: set[tuple[str, int]],
) -> list[FluxKs]:
    """Place the files `ks` applies, substitute them, and return the child Kustomizations."""
    source = ks.spec.get("sourceRef") or {}
    raw_path = ks.spec.get("path")
    if not isinstance(source, dict) or source.get("name") != model.own_source:
        return []  # Another repository's content: nothing of ours to follow.
    ks.path = normalize("", str(raw_path or "./"))
    if ks.path is None or not (tree.is_dir(ks.path) or ks.path in kdirs):
        return []
    components = _components(model, ks, tree, kdirs)
    included, visited = flux_build(ks.path, tree, kdirs, components)
    target_ns = ks.spec.get("targetNamespace")
    for kdir in visited:
        for kind, name in kdir.generated:
            model.generated.add((kind, target_ns or kdir.namespace, name))
    for item in included:
        if model.owner.setdefault(item.path, ks) is not ks:
            continue
        forced = target_ns or item.namespace
        if forced:
            model.forced_namespaces.setdefault(item.path, set()).add(str(forced))
    ks.variables = _variables(model, ks, decrypt)
    children: list[FluxKs] = []
    substituted: set[str] = set()
    for item in included:
        if model.owner.get(item.path) is not ks or item.path in substituted:
            continue
        substituted.add(item.path)
        new_docs = []
        for doc in model.docs.get(item.path, []):
            if ks.variables is not None:
                doc = _substituted(model, ks, doc, ks.variables)
            new_docs.append(doc)
            if is_flux_ks(doc) and (doc.path, doc.index) not in done:
                done.add((doc.path, doc.index))
                namespace = model.namespace_of(doc)
                data = doc.data
                if not ks.implicit:
                    data, problems = apply_parent_patches(ks.doc, doc, namespace)
                    for problem in problems:
                        finding = ks.doc.finding(problem)
                        if finding not in model.findings:
                            model.findings.append(finding)
                child = _flux_ks(doc, data, namespace)
                model.patched_specs[(doc.path, doc.index)] = child.spec
                children.append(child)
        if item.path in model.docs:
            model.set_docs(item.path, new_docs)
    return children


def _components(
    model: Model, ks: FluxKs, tree: Tree, kdirs: Mapping[str, KustomizeDir]
) -> list[str]:
    """`spec.components`: kustomize Components Flux adds to the build, relative to spec.path."""
    found: list[str] = []
    for i, ref in enumerate(ks.spec.get("components") or []):
        if not isinstance(ref, str):
            continue
        target = normalize(ks.path or "", ref)
        if target is not None and target in kdirs:
            found.append(target)
            continue
        what = "outside the repository" if target is None else "not a kustomize Component"
        if target is not None and not tree.is_dir(target):
            what = "does not exist"
        model.findings.append(ks.doc.finding(f"spec.components[{i}] {shown(ref)}: {what}"))
    return found


def _variables(model: Model, ks: FluxKs, decrypt: Decrypt | None) -> Variables | None:
    post = ks.spec.get("postBuild")
    if not isinstance(post, dict):
        return None
    result = Variables()
    for ref in post.get("substituteFrom") or []:
        if not isinstance(ref, dict):
            continue
        kind, name = str(ref.get("kind", "")), str(ref.get("name", ""))
        doc = model.find(kind, name, ks.namespace)
        if doc is None:
            continue  # Reported by the reference checks (unless optional).
        values = values_of(doc, decrypt, model.files.get(doc.path, b""), model.decrypted)
        if values is None:
            result.unreadable.append(f"{kind} {name} ({doc.path}) could not be decrypted")
        else:
            result.values.update(values)
    inline = post.get("substitute")
    if isinstance(inline, dict):
        result.values.update({str(k): "" if v is None else str(v) for k, v in inline.items()})
    return result


def _substituted(model: Model, ks: FluxKs, doc: Doc, variables: Variables) -> Doc:
    new, missing = substitute_doc(doc, variables.values, keep_missing=bool(variables.unreadable))
    if missing and not variables.unreadable:
        names = ", ".join(sorted(set(missing)))
        model.findings.append(
            new.finding(
                f"variable(s) {names} not defined by Kustomization {ks.name}; "
                "Flux substitutes an empty string (escape a literal as $${...})",
                "warning",
            )
        )
    if new.meta.get("substitution_error"):
        model.findings.append(
            new.finding(f"not valid YAML after substitution: {new.meta['substitution_error']}")
        )
    if missing and variables.unreadable:
        new.meta["unresolved"] = variables.unreadable
    return new
