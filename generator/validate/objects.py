"""Every object has the fields an API server needs and matches its JSON schema."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from generator.secrets.files import is_secret_path
from generator.validate.documents import Doc, Finding, Severity, is_object, object_shape_findings
from generator.validate.flux_specs import spec_problems
from generator.validate.flux_tree import Model
from generator.validate.schemas import SchemaStore
from generator.validate.substitute import DISABLED_KEY, substitution_disabled


def check_objects(
    model: Model, paths: Iterable[str], store: SchemaStore, *, strict: bool
) -> list[Finding]:
    findings: list[Finding] = []
    unknown: dict[tuple[str, str], list[Doc]] = {}
    for path in paths:
        # Kept between runs only when no secret value can be in it (schema_results.py).
        remember = not is_secret_path(path) and b"${" not in model.files.get(path, b"${")
        for doc in model.docs.get(path, []):
            findings += object_shape_findings(doc)
            if not is_object(doc):
                continue
            result = store.check(without_sops(doc.data), remember=remember and doc.kind != "Secret")
            flux = spec_problems(doc.api_version, doc.kind, doc.data, schema_checked=result.found)
            findings += [doc.finding(message) for message in flux]
            if not result.found:
                unknown.setdefault((doc.api_version, doc.kind), []).append(doc)
                continue
            findings += _schema_findings(model, doc, result.errors)
    level: Severity = "error" if strict else "warning"
    if unknown and store.unreachable:
        # Offline: any unknown kind may be one the unreachable location has; one line says so.
        findings.append(Finding("", offline_message(store.unreachable, unknown), severity=level))
        return findings
    for (api_version, kind), docs in sorted(unknown.items()):
        more = f" (and {len(docs) - 1} more)" if len(docs) > 1 else ""
        findings.append(
            docs[0].finding(
                f"no schema for {kind} {api_version}{more}; add a --schema-location that has it",
                level,
            )
        )
    return findings


def offline_message(unreachable: Mapping[str, str], unknown: Mapping[Any, list[Doc]]) -> str:
    objects = sum(len(docs) for docs in unknown.values())
    where = "; ".join(
        f"{_short_location(location)} unreachable: {reason}"
        for location, reason in unreachable.items()
    )
    return (
        f"CRD schemas unavailable ({where}): {objects} custom resource(s) of {len(unknown)} "
        "kind(s) not schema-checked; set CLUSTERGEN_SCHEMA_LOCATION or pass --schema-location "
        "(DIR/{group}/{kind}_{version}.json), or run once online to fill the cache"
    )


def _short_location(location: str) -> str:
    # The template part is the same for every location: the fixed prefix identifies it.
    return location.split("{", 1)[0].rstrip("/") + "/…" if "{" in location else location


def without_sops(data: dict[str, Any]) -> dict[str, Any]:
    """The object as applied: kustomize-controller strips sops metadata first."""
    return {k: v for k, v in data.items() if k != "sops"} if "sops" in data else data


def _schema_findings(model: Model, doc: Doc, errors: list[tuple[str, bool]]) -> Iterator[Finding]:
    for message, has_variable in errors:
        if not has_variable:
            yield doc.finding(message)
        elif doc.meta.get("unresolved"):
            sources = "; ".join(doc.meta["unresolved"])
            yield doc.finding(f"{message} (variable not resolved: {sources})", "warning")
        else:
            owner = model.owner.get(doc.path)
            if substitution_disabled(doc):
                why = f"{DISABLED_KEY} is disabled on this object"
            elif owner is not None and owner.variables is None:
                why = f"Kustomization {owner.name} has no postBuild substitution"
            else:
                why = "no Flux Kustomization with postBuild applies this file"
            yield doc.finding(f"{message} (Flux will not substitute it: {why})")
