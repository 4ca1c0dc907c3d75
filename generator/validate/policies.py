"""Policies over the whole tree: every namespace has a network policy (when the
feature is on), every secret file is encrypted, every manifest is applied by something."""

from __future__ import annotations

import posixpath
from collections.abc import Collection, Iterator, Mapping
from typing import Any

from generator.secrets.files import is_secret_path
from generator.validate.documents import Doc, Finding, is_object, may_hold_objects
from generator.validate.flux_tree import FLUX_ROOT, Model
from generator.validate.kustomize import KustomizeDir, normalize

_NS_LABELS = ("k8s:io.kubernetes.pod.namespace", "io.kubernetes.pod.namespace")
_CILIUM = "cilium.io"


def check_network_policies(model: Model) -> list[Finding]:
    """With Cilium policies rendered, each rendered Namespace must be covered by one."""
    objects = model.applied_objects()
    namespaced = {
        ns
        for d in objects
        if d.kind == "CiliumNetworkPolicy" and d.group == _CILIUM
        for ns in model.namespaces_of(d)
    }
    cluster_wide = [
        d for d in objects if d.kind == "CiliumClusterwideNetworkPolicy" and d.group == _CILIUM
    ]
    if not namespaced and not cluster_wide:
        return []  # The feature is off.
    findings = []
    for doc in objects:
        if doc.kind != "Namespace" or doc.api_version != "v1" or doc.name in namespaced:
            continue
        if any(_selects_namespace(p, doc.name) for p in cluster_wide):
            continue
        findings.append(
            doc.finding("no CiliumNetworkPolicy in it and no cluster-wide policy selects it")
        )
    return findings


def _selects_namespace(policy: Doc, namespace: str) -> bool:
    spec = policy.get("spec")
    specs = [spec] if isinstance(spec, dict) else []
    specs += [s for s in policy.get("specs") or [] if isinstance(s, dict)]
    return any(_selector_matches(s.get("endpointSelector"), namespace) for s in specs)


def _selector_matches(selector: Any, namespace: str) -> bool:
    if not isinstance(selector, dict):
        return False
    labels = selector.get("matchLabels") or {}
    for key in _NS_LABELS:
        if key in labels and labels[key] != namespace:
            return False
    for expr in selector.get("matchExpressions") or []:
        if not isinstance(expr, dict) or expr.get("key") not in _NS_LABELS:
            continue
        values = expr.get("values") or []
        op = expr.get("operator")
        if (op == "In" and namespace not in values) or (op == "NotIn" and namespace in values):
            return False
        if op == "DoesNotExist":
            return False
    # Other labels narrow the pods, not the namespaces: still counts as covering it.
    return True


def check_encrypted(files: Mapping[str, bytes], docs: Mapping[str, list[Doc]]) -> Iterator[Finding]:
    """Every `*.sops.*` file carries sops metadata with a MAC."""
    for path in sorted(files):
        if not is_secret_path(path):
            continue
        message = "not encrypted by sops (no sops metadata with a mac)"
        if path in docs:
            # Name the objects whose values would reach Git in clear text.
            for doc in docs[path]:
                if not _has_mac(doc.get("sops")):
                    yield doc.finding(message) if is_object(doc) else Finding(path, message)
            if not docs[path]:
                yield Finding(path, message)
        # dotenv/ini/binary formats keep the metadata as plain keys.
        elif b"sops_mac" not in files[path] and b'"mac"' not in files[path]:
            yield Finding(path, message)


def _has_mac(meta: Any) -> bool:
    return isinstance(meta, dict) and bool(meta.get("mac"))


def check_applied(
    model: Model, kdirs: Mapping[str, KustomizeDir], data_files: Collection[str]
) -> Iterator[Finding]:
    """Manifests under kubernetes/ that no Flux Kustomization applies never reach the
    cluster: usually a file missing from its kustomization.yaml."""
    if not model.kustomizations:
        return
    # Paths of Kustomizations we could not follow (another source): their content is unknown.
    foreign = {
        path
        for ks in model.kustomizations
        if ks.path is None and not ks.implicit
        for path in [normalize("", str(ks.spec.get("path") or "./"))]
        if path is not None
    }
    for path, docs in sorted(model.docs.items()):
        if not path.startswith(FLUX_ROOT) or path in model.owner or path in data_files:
            continue
        if not may_hold_objects(path) or any(path.startswith(f"{d}/") for d in foreign):
            continue
        first = next((d for d in docs if is_object(d)), None)
        if first is not None:
            yield first.finding(f"never applied: {_why_unapplied(kdirs, path)}", "warning")


def _why_unapplied(kdirs: Mapping[str, KustomizeDir], path: str) -> str:
    directory = posixpath.dirname(path)
    while directory:
        kdir = kdirs.get(directory)
        if kdir is not None:
            if path in kdir.resources:
                return f"{kdir.file} lists it, but nothing includes {kdir.dir}"
            return f"{kdir.file} does not list it"
        directory = posixpath.dirname(directory)
    return "no Flux Kustomization path reaches it"
