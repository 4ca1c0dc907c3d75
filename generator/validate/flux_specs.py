"""The spec fields Flux needs on the Flux kinds clustergen renders, checked with or
without CRD schemas.

Two kinds of rule:
- structural (required fields, Go durations, the sourceRef kinds): what the CRD's
  OpenAPI schema says, checked here only when no schema was found (offline), so a
  broken HelmRelease does not pass because the schema catalog was unreachable;
- CEL (`x-kubernetes-validations`): what the API server checks on admission but a
  JSON schema validator does not, always checked.

Source of the rules: the CRDs of Flux v2.x, helm-controller `HelmRelease`
helm.toolkit.fluxcd.io/v2 (spec.interval required, pattern
`^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$`; CEL "either chart or chartRef must be set";
install/upgrade strategy retryInterval rules; kubeConfig one-of) and
kustomize-controller `Kustomization` kustomize.toolkit.fluxcd.io/v1 (spec.interval,
spec.prune, spec.sourceRef required; sourceRef.kind enum), and source-controller's
GitRepository/OCIRepository/HelmRepository v1 (url required; interval required but on
HelmRepository).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from generator.errors import shown

# A Go duration as the CRDs' pattern accepts it (`10m`, `1h30m`, `0.5s`).
_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$")
_DURATION_KEYS = ("interval", "timeout", "retryInterval")
_KUSTOMIZATION_SOURCES = ("OCIRepository", "GitRepository", "Bucket", "ExternalArtifact")
_CHART_REF_KINDS = ("OCIRepository", "HelmChart", "ExternalArtifact")
_CHART_SOURCES = ("HelmRepository", "GitRepository", "Bucket")
_SOURCE_URL_KINDS = ("GitRepository", "OCIRepository", "HelmRepository")


def spec_problems(api_version: str, kind: str, data: Any, *, schema_checked: bool) -> list[str]:
    """Messages for the Flux object `data` (a parsed manifest) of `api_version`/`kind`;
    [] for any other kind. `schema_checked`: its CRD schema was applied already, so only
    the CEL rules, which the schema check does not evaluate, are checked here."""
    group = api_version.partition("/")[0]
    spec = data.get("spec") if isinstance(data, dict) else None
    if group == "helm.toolkit.fluxcd.io" and kind == "HelmRelease":
        rules = _helm_release
    elif group == "kustomize.toolkit.fluxcd.io" and kind == "Kustomization":
        rules = _kustomization
    elif group == "source.toolkit.fluxcd.io" and kind in _SOURCE_URL_KINDS:
        rules = _source
    else:
        return []
    if not isinstance(spec, dict):
        return [] if schema_checked else [f"spec must be a mapping, not {_shown(spec)}"]
    return list(rules(kind, spec, structural=not schema_checked))


def _helm_release(kind: str, spec: dict[str, Any], *, structural: bool) -> Iterator[str]:
    chart, chart_ref = _has(spec, "chart"), _has(spec, "chartRef")
    if chart == chart_ref:
        which = "both are set" if chart else "neither is set"
        yield f"spec: set exactly one of chart or chartRef ({which})"
    for phase, allowed in (("install", "RemediateOnFailure"), ("upgrade", "RetryOnFailure")):
        strategy = _mapping(_mapping(spec.get(phase)).get("strategy"))
        if _has(strategy, "retryInterval") and strategy.get("name") not in (None, allowed):
            yield (
                f"spec.{phase}.strategy.retryInterval is only allowed with "
                f"name: {allowed}, not {strategy.get('name')}"
            )
    yield from _kube_config(spec)
    if not structural:
        return
    yield from _durations(spec, required=True)
    if chart_ref:
        yield from _reference(spec["chartRef"], "spec.chartRef", _CHART_REF_KINDS)
    if chart:
        chart_spec = _mapping(_mapping(spec["chart"]).get("spec"))
        if not isinstance(chart_spec.get("chart"), str) or not chart_spec["chart"]:
            yield "spec.chart.spec.chart is missing: the chart's name (or path in a source)"
        yield from _reference(
            chart_spec.get("sourceRef"), "spec.chart.spec.sourceRef", _CHART_SOURCES
        )


def _kustomization(kind: str, spec: dict[str, Any], *, structural: bool) -> Iterator[str]:
    yield from _kube_config(spec)
    if not structural:
        return
    yield from _durations(spec, required=True)
    yield from _reference(spec.get("sourceRef"), "spec.sourceRef", _KUSTOMIZATION_SOURCES)
    if not isinstance(spec.get("prune"), bool) and not _is_variable(spec.get("prune")):
        yield f"spec.prune must be true or false, not {_shown(spec.get('prune'))}"
    if _has(spec, "path") and not isinstance(spec["path"], str):
        yield f"spec.path must be a path in the source (a string), not {_shown(spec['path'])}"


def _source(kind: str, spec: dict[str, Any], *, structural: bool) -> Iterator[str]:
    if not structural:
        return
    yield from _durations(spec, required=kind != "HelmRepository")
    if not isinstance(spec.get("url"), str) or not spec["url"]:
        yield "spec.url is missing: the source's address"


def _kube_config(spec: dict[str, Any]) -> Iterator[str]:
    if _has(spec, "kubeConfig"):
        config = _mapping(spec["kubeConfig"])
        if _has(config, "configMapRef") == _has(config, "secretRef"):
            yield "spec.kubeConfig: set exactly one of configMapRef or secretRef"


def _durations(spec: dict[str, Any], *, required: bool) -> Iterator[str]:
    if required and not _has(spec, "interval"):
        yield "spec.interval is missing: how often Flux reconciles, a Go duration like 10m"
    for key in _DURATION_KEYS:
        value = spec.get(key)
        if value is None or _is_variable(value):
            continue
        if not isinstance(value, str) or not _DURATION.match(value):
            yield (
                f"spec.{key} must be a Go duration like 30s, 10m or 1h30m (units ms, s, m, h), "
                f"not {_shown(value)}"
            )


def _reference(ref: Any, where: str, kinds: tuple[str, ...]) -> Iterator[str]:
    if not isinstance(ref, dict):
        yield f"{where} is missing: the source's kind and name"
        return
    if ref.get("kind") not in kinds and not _is_variable(ref.get("kind")):
        yield f"{where}.kind must be one of {', '.join(kinds)}, not {_shown(ref.get('kind'))}"
    if not isinstance(ref.get("name"), str) or not ref["name"]:
        yield f"{where}.name is missing: the name of the {ref.get('kind') or 'source'}"


def _has(node: dict[str, Any], key: str) -> bool:
    # As CEL's has(): a key set to null is absent (the API server drops it).
    return node.get(key) is not None


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _is_variable(value: Any) -> bool:
    # `${VAR}`: Flux substitutes it before applying; the schema check reports those.
    return isinstance(value, str) and "${" in value


def _shown(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    return shown(value)
