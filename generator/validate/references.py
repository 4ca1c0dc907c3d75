"""References between rendered objects outside Flux: routes to gateways and their
listeners, gateways to classes and certificates, certificates to issuers, Flux alerts to
providers, Velero schedules to storage locations and those to their credentials.

Only references to objects we render are checked; a chart's own objects are unknown here,
so a kind that charts create (plain Secrets of a release) is checked only where the API
says who makes it (cert-manager writes a Certificate's spec.secretName).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from generator.errors import shown
from generator.validate.documents import Doc, Finding
from generator.validate.flux_tree import Model

_GATEWAY_API = "gateway.networking.k8s.io"
_ROUTES = ("HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute")


def check_references(model: Model) -> list[Finding]:
    findings: list[Finding] = []
    for doc in model.applied_objects():
        namespace = model.namespace_of(doc)
        spec = model.spec_of(doc)
        if not isinstance(spec, dict):
            continue
        group = doc.group
        if group == _GATEWAY_API and doc.kind in _ROUTES:
            findings += _parent_refs(model, doc, spec, namespace)
        elif group == _GATEWAY_API and doc.kind == "Gateway":
            findings += _gateway(model, doc, spec, namespace)
        elif group == "cert-manager.io" and doc.kind == "Certificate":
            findings += _issuer(model, doc, spec.get("issuerRef"), namespace)
        elif group == "notification.toolkit.fluxcd.io" and doc.kind == "Alert":
            findings += _named(model, doc, "spec.providerRef", "Provider", spec, namespace)
        elif group == "velero.io" and doc.kind == "Schedule":
            location = (spec.get("template") or {}).get("storageLocation")
            if location and not model.find("BackupStorageLocation", str(location), namespace):
                what = f"BackupStorageLocation {location}"
                findings.append(_missing(doc, "spec.template.storageLocation", what, namespace))
        elif group == "velero.io" and doc.kind == "BackupStorageLocation":
            findings += _named(model, doc, "spec.credential", "Secret", spec, namespace)
    return findings


def _missing(doc: Doc, where: str, what: str, namespace: str | None) -> Finding:
    in_ns = f" in namespace {namespace}" if namespace else ""
    return doc.finding(f"{where} names {what}{in_ns}, which is not rendered")


def _named(
    model: Model, doc: Doc, where: str, kind: str, spec: dict[str, Any], namespace: str | None
) -> Iterator[Finding]:
    ref = spec.get(where.removeprefix("spec."))
    if isinstance(ref, dict) and ref.get("name") and not _exists(model, kind, ref, namespace):
        yield _missing(doc, where, f"{kind} {ref['name']}", namespace)


def _exists(model: Model, kind: str, ref: dict[str, Any], namespace: str | None) -> bool:
    return model.find(kind, str(ref["name"]), namespace) is not None


def _parent_refs(
    model: Model, doc: Doc, spec: dict[str, Any], namespace: str | None
) -> Iterator[Finding]:
    for i, ref in enumerate(spec.get("parentRefs") or []):
        if not isinstance(ref, dict) or not ref.get("name"):
            continue
        if (
            ref.get("kind", "Gateway") != "Gateway"
            or ref.get("group", _GATEWAY_API) != _GATEWAY_API
        ):
            continue
        where, ns = f"spec.parentRefs[{i}]", ref.get("namespace") or namespace
        gateway = model.find("Gateway", str(ref["name"]), ns)
        if gateway is None:
            yield _missing(doc, where, f"Gateway {ref['name']}", ns)
            continue
        section = ref.get("sectionName")
        listeners = model.spec_of(gateway).get("listeners") or []
        names = [str(lst.get("name")) for lst in listeners if isinstance(lst, dict)]
        if section and str(section) not in names:
            yield doc.finding(
                f"{where}.sectionName {shown(section)} is not a listener of Gateway {ref['name']} "
                f"(listeners: {', '.join(names) or 'none'})"
            )


def _gateway(
    model: Model, doc: Doc, spec: dict[str, Any], namespace: str | None
) -> Iterator[Finding]:
    gateway_class = spec.get("gatewayClassName")
    if gateway_class and model.find("GatewayClass", str(gateway_class), None) is None:
        yield _missing(doc, "spec.gatewayClassName", f"GatewayClass {gateway_class}", None)
    for i, listener in enumerate(spec.get("listeners") or []):
        tls = listener.get("tls") if isinstance(listener, dict) else None
        for j, ref in enumerate((tls or {}).get("certificateRefs") or []):
            if not isinstance(ref, dict) or not ref.get("name") or ref.get("group"):
                continue  # A non-core group is some other API's certificate.
            if ref.get("kind", "Secret") != "Secret":
                continue
            ns = ref.get("namespace") or namespace
            if not _secret_made(model, str(ref["name"]), ns):
                where = f"spec.listeners[{i}].tls.certificateRefs[{j}]"
                yield _missing(doc, where, f"Secret {ref['name']}", ns)


def _secret_made(model: Model, name: str, namespace: str | None) -> bool:
    if model.find("Secret", name, namespace) is not None:
        return True
    return any(
        d.kind == "Certificate"
        and d.group == "cert-manager.io"
        and (model.spec_of(d) or {}).get("secretName") == name
        and (namespace is None or model.namespace_of(d) in (None, namespace))
        for d in model.applied_objects()
    )


def _issuer(model: Model, doc: Doc, ref: Any, namespace: str | None) -> Iterator[Finding]:
    if not isinstance(ref, dict) or not ref.get("name"):
        return
    if ref.get("group", "cert-manager.io") != "cert-manager.io":
        return  # An external issuer (another API group).
    kind = str(ref.get("kind") or "Issuer")
    ns = None if kind == "ClusterIssuer" else namespace
    if model.find(kind, str(ref["name"]), ns) is None:
        yield _missing(doc, "spec.issuerRef", f"{kind} {ref['name']}", ns)
