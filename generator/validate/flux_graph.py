"""The Flux object graph holds together: paths exist, dependencies and sources
resolve, there are no dependency cycles, referenced Secrets/ConfigMaps are rendered."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from generator.errors import shown
from generator.validate.documents import Doc, Finding
from generator.validate.flux_tree import Model

SOURCE_KINDS = ("GitRepository", "OCIRepository", "HelmRepository", "Bucket", "HelmChart")
# Keys under a Flux object's spec that name a Secret in the object's namespace.
_SECRET_KEYS = ("secretRef", "certSecretRef", "proxySecretRef", "verifySecretRef")
Key = tuple[str | None, str]


def check_graph(model: Model) -> list[Finding]:
    findings: list[Finding] = []
    findings += _paths(model)
    findings += _dependencies(model, "Kustomization", _ks_nodes(model))
    releases = {(model.namespace_of(d), d.name): d for d in model.applied_objects() if _is_hr(d)}
    findings += _dependencies(model, "HelmRelease", releases)
    findings += _sources(model)
    findings += _secret_refs(model)
    return findings


def _is_hr(doc: Doc) -> bool:
    return doc.kind == "HelmRelease" and doc.group == "helm.toolkit.fluxcd.io"


def _is_flux(doc: Doc) -> bool:
    return doc.group.endswith(".fluxcd.io") or doc.group == "fluxcd.controlplane.io"


def _ks_nodes(model: Model) -> dict[Key, Doc]:
    return {(ks.namespace, ks.name): ks.doc for ks in model.kustomizations}


def _paths(model: Model) -> Iterator[Finding]:
    dirs: set[str] | None = None  # the tree's directories, listed once if needed
    for ks in model.kustomizations:
        source = ks.spec.get("sourceRef") or {}
        if not isinstance(source, dict) or source.get("name") != model.own_source:
            continue
        raw = ks.spec.get("path")
        if ks.path is not None and dirs is None:
            dirs = _dirs(model)
        if ks.path is None or dirs is None or ks.path not in dirs:
            what = "spec.sync.path" if ks.implicit else "spec.path"
            yield ks.doc.finding(f"{what} {shown(raw)} does not exist in the repository")


def _dirs(model: Model) -> set[str]:
    dirs = {""}
    for path in model.files:
        parts = path.split("/")[:-1]
        dirs.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return dirs


def _lookup(nodes: dict[Key, Doc], namespace: str | None, name: str) -> Key | None:
    if (namespace, name) in nodes:
        return (namespace, name)
    if namespace is None:
        return next((k for k in nodes if k[1] == name), None)
    # An object whose namespace we could not tell matches by name.
    return (None, name) if (None, name) in nodes else None


def _dependencies(model: Model, kind: str, nodes: dict[Key, Doc]) -> Iterator[Finding]:
    edges: dict[Key, list[Key]] = {key: [] for key in nodes}
    for key, doc in nodes.items():
        if doc.kind != kind:
            continue  # A FluxInstance standing in for its Kustomization has no dependsOn.
        spec = model.spec_of(doc) if kind == "Kustomization" else doc.get("spec")
        for dep in (spec.get("dependsOn") if isinstance(spec, dict) else None) or []:
            if not isinstance(dep, dict) or not dep.get("name"):
                continue
            namespace = dep.get("namespace") or key[0]
            target = _lookup(nodes, namespace, str(dep["name"]))
            if target is None:
                where = f" in namespace {namespace}" if namespace else ""
                hint = _did_you_mean(str(dep["name"]), {name for _, name in nodes})
                yield doc.finding(f"dependsOn {kind} {dep['name']}{where} is not rendered{hint}")
            else:
                edges[key].append(target)
    for cycle in _cycles(edges):
        first = nodes[cycle[0]]
        chain = " -> ".join(f"{ns}/{name}" if ns else name for ns, name in [*cycle, cycle[0]])
        yield first.finding(f"dependency cycle: {chain}")


def _cycles(edges: dict[Key, list[Key]]) -> list[list[Key]]:
    """One cycle per strongly connected group, each reported from its smallest node."""
    cycles: list[list[Key]] = []
    state: dict[Key, int] = {}  # 1 on the stack, 2 finished
    stack: list[Key] = []

    def visit(node: Key) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in edges.get(node, []):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :]
                start = cycle.index(min(cycle, key=str))
                cycles.append(cycle[start:] + cycle[:start])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges, key=str):
        if node not in state:
            visit(node)
    return cycles


def _sources(model: Model) -> Iterator[Finding]:
    implicit = {
        (str(ks.spec["sourceRef"]["kind"]), ks.namespace, ks.name)
        for ks in model.kustomizations
        if ks.implicit
    }

    def exists(kind: str, name: str, namespace: str | None) -> bool:
        if (kind, namespace, name) in implicit:
            return True
        if namespace is None and any(k == kind and n == name for k, _, n in implicit):
            return True
        return model.find(kind, name, namespace) is not None

    for doc in model.applied_objects():
        namespace = model.namespace_of(doc)
        refs: list[tuple[str, Any]] = []
        if doc.kind == "Kustomization" and doc.group == "kustomize.toolkit.fluxcd.io":
            refs.append(("spec.sourceRef", doc.get("spec", "sourceRef")))
        elif _is_hr(doc):
            chart_source = doc.get("spec", "chart", "spec", "sourceRef")
            refs.append(("spec.chart.spec.sourceRef", chart_source))
            refs.append(("spec.chartRef", doc.get("spec", "chartRef")))
        for where, ref in refs:
            if not isinstance(ref, dict) or not ref.get("name"):
                continue
            kind, name = str(ref.get("kind", "")), str(ref["name"])
            ref_ns = ref.get("namespace") or namespace
            if kind in SOURCE_KINDS and not exists(kind, name, ref_ns):
                where_ns = f" in namespace {ref_ns}" if ref_ns else ""
                rendered = {d.name for d in model.applied_objects() if d.kind == kind}
                hint = _did_you_mean(name, rendered | {n for k, _, n in implicit if k == kind})
                yield doc.finding(f"{where} {kind} {name}{where_ns} is not rendered{hint}")


def _did_you_mean(name: str, names: set[str]) -> str:
    """ "; did you mean X?" for the rendered name closest to `name`, else ""."""
    from generator.config.schema import closest  # the config's did-you-mean, for one voice

    close = closest(name, sorted(names - {name}))
    return f"; did you mean {close}?" if close else ""


def _secret_refs(model: Model) -> Iterator[Finding]:
    for doc in model.applied_objects():
        if not _is_flux(doc):
            continue
        namespace = model.namespace_of(doc)
        for where, kind, name, optional in _named_refs(doc, model.spec_of(doc)):
            if optional or _rendered(model, kind, name, namespace):
                continue
            where_ns = f" in namespace {namespace}" if namespace else ""
            yield doc.finding(f"{where} names {kind} {name}{where_ns}, which is not rendered")


def _named_refs(doc: Doc, spec: Any) -> Iterator[tuple[str, str, str, bool]]:
    """(where, kind, name, optional) of every Secret/ConfigMap a Flux object names."""
    if not isinstance(spec, dict):
        return
    pull = doc.get("spec", "sync", "pullSecret")
    if doc.kind == "FluxInstance" and pull:
        yield "spec.sync.pullSecret", "Secret", str(pull), False
    for key in ("valuesFrom",):
        for i, ref in enumerate(spec.get(key) or []):
            if isinstance(ref, dict) and ref.get("name"):
                kind = str(ref.get("kind", "Secret"))
                yield f"spec.{key}[{i}]", kind, str(ref["name"]), bool(ref.get("optional"))
    post = spec.get("postBuild")
    for i, ref in enumerate((post.get("substituteFrom") if isinstance(post, dict) else None) or []):
        if isinstance(ref, dict) and ref.get("name"):
            where = f"spec.postBuild.substituteFrom[{i}]"
            yield where, str(ref.get("kind", "")), str(ref["name"]), bool(ref.get("optional"))
    yield from _walk_secret_refs(spec, "spec")


def _walk_secret_refs(node: Any, where: str) -> Iterator[tuple[str, str, str, bool]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("values", "patches", "postBuild"):
                continue  # Chart values and patches belong to other APIs.
            if key in _SECRET_KEYS and isinstance(value, dict) and value.get("name"):
                yield f"{where}.{key}", "Secret", str(value["name"]), False
            else:
                yield from _walk_secret_refs(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _walk_secret_refs(item, f"{where}[{i}]")


def _rendered(model: Model, kind: str, name: str, namespace: str | None) -> bool:
    if model.find(kind, name, namespace) is not None:
        return True
    return any(
        k == kind and n == name and (namespace is None or ns is None or ns == namespace)
        for k, ns, n in model.generated
    )
