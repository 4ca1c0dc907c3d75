"""Cross-field rules of `features`: what an enabled feature needs to render."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from generator.config.locate import KeyPath, format_path

Finding = tuple[KeyPath, str]

_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_SUFFIX = {"": 1.0, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
_SUFFIX.update({f"{p}i": float(1024 ** (i + 1)) for i, p in enumerate("KMGTPE")})


def _feature(values: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    features = values.get("features")
    feature = features.get(name) if isinstance(features, Mapping) else None
    return feature if isinstance(feature, Mapping) else {}


def _sub(mapping: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = mapping.get(key)
    return value if isinstance(value, Mapping) else {}


def _quantity(value: Any) -> float | None:
    match = _QUANTITY.match(str(value)) if isinstance(value, str | int) else None
    return float(match[1]) * _SUFFIX[match[2] or ""] if match else None


def check_features(values: Mapping[str, Any]) -> Iterator[Finding]:
    yield from _required_when_enabled(
        values, "backups", ("s3",), ("endpoint", "bucket", "access_key", "secret_key")
    )
    yield from _required_when_enabled(values, "flux_notifications", (), ("provider", "address"))
    yield from _monitoring(values)
    yield from _limit_range(values)


def _required_when_enabled(
    values: Mapping[str, Any], name: str, group: KeyPath, keys: tuple[str, ...]
) -> Iterator[Finding]:
    feature = _feature(values, name)
    if feature.get("enabled") is not True:
        return
    block: Mapping[str, Any] = feature
    for part in group:
        block = _sub(block, str(part))
    for key in keys:
        value = block.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            message = f"is required when features.{name}.enabled is true"
            yield ("features", name, *group, key), message


def _monitoring(values: Mapping[str, Any]) -> Iterator[Finding]:
    monitoring = _feature(values, "monitoring")
    for part in ("logs", "tracing"):
        if _sub(monitoring, part).get("enabled") is True and monitoring.get("enabled") is not True:
            message = "needs features.monitoring.enabled: true (its Grafana shows logs and traces)"
            yield ("features", "monitoring", part, "enabled"), message
    receivers = _sub(monitoring, "alerting").get("receivers")
    if not isinstance(receivers, list):
        return
    first: dict[str, KeyPath] = {}
    for index, receiver in enumerate(receivers):
        name = receiver.get("name") if isinstance(receiver, Mapping) else None
        if not isinstance(name, str):
            continue
        path: KeyPath = ("features", "monitoring", "alerting", "receivers", index)
        if name in first:
            message = f"receiver name '{name}' is also used by {format_path(first[name])}"
            yield (*path, "name"), message
        else:
            first[name] = path


def _limit_range(values: Mapping[str, Any]) -> Iterator[Finding]:
    # The API server rejects a LimitRange whose default request exceeds its default limit.
    limits = _sub(_feature(values, "resource_governance"), "limits")
    for kind in ("cpu", "memory"):
        request, limit = limits.get(f"default_request_{kind}"), limits.get(f"default_{kind}")
        request_n, limit_n = _quantity(request), _quantity(limit)
        if request_n is not None and limit_n is not None and request_n > limit_n:
            message = f"{request} is more than default_{kind} ({limit}); a request cannot exceed "
            path = ("features", "resource_governance", "limits", f"default_request_{kind}")
            yield path, message + "its limit"
