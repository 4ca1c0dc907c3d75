"""features.pod_security: each namespace's level follows what runs in it, and every workload in
a namespace below `privileged` carries what that level needs (helpers in security.py).

Where we see the pod spec (our manifests, app-template values, security contexts we set in
chart values) the fields are checked; where a chart's own defaults meet `restricted`, the
table below names the chart file and version they were read from, and the test asserts our
values leave those keys alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from tests.templates.security import ALL_ON, TUNNEL, Tree, Trees, helm_values, namespaces, objects

pytestmark = pytest.mark.slow

PRIVILEGED = {"kube-system", "observability", "velero"}
LEVELS = ("baseline", "restricted")
MONITORING_STACKS = ("kube-prometheus-stack", "victoria-metrics")

# Releases whose security contexts are our values: (pod context, container context) paths.
EXPLICIT: dict[str, list[tuple[str, str]]] = {
    # k8s-gateway/k8s_gateway@k8s-gateway-3.7.2 charts/k8s-gateway: podSecurityContext and
    # securityContext are empty by default; templates/deployment.yaml renders both.
    "k8s-gateway": [("podSecurityContext", "securityContext")],
    # aquasecurity/trivy-operator@v0.32.0 (chart 0.34.0) deploy/helm/values.yaml and
    # templates/deployment.yaml, templates/configmaps/operator.yaml (scan job pods).
    "trivy-operator": [
        ("podSecurityContext", "securityContext"),
        (
            "trivyOperator.scanJobPodTemplatePodSecurityContext",
            "trivyOperator.scanJobPodTemplateContainerSecurityContext",
        ),
    ],
}
# bjw-s-labs/helm-charts app-template: the pod spec is ours (defaultPodOptions, controllers).
APP_TEMPLATE = {"echo", "cloudflare-tunnel"}
# Releases relying on their chart's defaults, which meet `restricted`: (where they were read,
# the keys holding them, which our values must not set).
CHART_DEFAULTS: dict[str, tuple[str, list[str]]] = {
    "cert-manager": (
        "cert-manager/cert-manager@v1.21.1 deploy/charts/cert-manager/values.yaml",
        [
            f"{prefix}{key}"
            for prefix in ("", "webhook.", "cainjector.", "startupapicheck.")
            for key in ("securityContext", "containerSecurityContext")
        ],
    ),
    "cloudflare-dns": (
        "kubernetes-sigs/external-dns@external-dns-helm-chart-1.21.1"
        " charts/external-dns/values.yaml",
        ["podSecurityContext", "securityContext"],
    ),
    "envoy-gateway": (
        "envoyproxy/gateway@v1.9.0 charts/gateway-helm/values.tmpl.yaml",
        [
            "deployment.pod.securityContext",
            "deployment.envoyGateway.securityContext",
            "certgen.job.pod.securityContext",
            "certgen.job.securityContext",
        ],
    ),
    "flux-operator": (
        "controlplaneio-fluxcd/charts charts/flux-operator/values.yaml (restricted by default)",
        ["podSecurityContext", "securityContext"],
    ),
    "kyverno": (
        "kyverno/kyverno@v1.19.0 (chart 3.9.0) charts/kyverno/values.yaml",
        [
            "crds.migration.podSecurityContext",
            "crds.migration.securityContext",
            "test.securityContext",
            "webhooksCleanup.podSecurityContext",
            "webhooksCleanup.securityContext",
            "admissionController.podSecurityContext",
            "admissionController.initContainer.securityContext",
            "admissionController.container.securityContext",
            *(
                f"{c}Controller.{key}"
                for c in ("background", "cleanup", "reports")
                for key in ("podSecurityContext", "securityContext")
            ),
        ],
    ),
}
# Releases whose chart runs no pod of its own: flux-instance's FluxInstance makes the
# operator deploy Flux's controllers, restricted by their own manifests
# (fluxcd/kustomize-controller config/manager/deployment.yaml and its siblings).
NO_PODS = {"flux-instance"}
POD_KINDS = {"Pod", "Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "Job", "CronJob"}


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Trees:
    return Trees(tmp_path_factory)


def changes(level: str, stack: str = "kube-prometheus-stack") -> dict[str, Any]:
    return {
        **ALL_ON,
        **TUNNEL,
        "features.pod_security.level": level,
        "features.monitoring.stack": stack,
    }


def get(data: Any, dotted: str) -> Any:
    """The value at `dotted` in nested mappings, or None where a key is missing."""
    for key in dotted.split("."):
        if not isinstance(data, Mapping) or key not in data:
            return None
        data = data[key]
    return data


def namespace_of(path: str) -> str:
    return path.split("/")[2]


def restricted_problems(
    pod: Mapping[str, Any] | None, container: Mapping[str, Any] | None
) -> list[str]:
    """What `restricted` rejects in a container with security context `container` in a pod
    with security context `pod` (https://kubernetes.io/docs/concepts/security/pod-security-standards/)."""
    pod, container = pod or {}, container or {}
    problems = []
    if not (container.get("runAsNonRoot") or pod.get("runAsNonRoot")):
        problems.append("runAsNonRoot is not true")
    seccomp = get(container, "seccompProfile.type") or get(pod, "seccompProfile.type")
    if seccomp not in {"RuntimeDefault", "Localhost"}:
        problems.append(f"seccompProfile.type is {seccomp!r}")
    if container.get("allowPrivilegeEscalation") is not False:
        problems.append("allowPrivilegeEscalation is not false")
    if "ALL" not in (get(container, "capabilities.drop") or []):
        problems.append("capabilities.drop lacks ALL")
    if set(get(container, "capabilities.add") or []) - {"NET_BIND_SERVICE"}:
        problems.append("capabilities.add beyond NET_BIND_SERVICE")
    if container.get("privileged"):
        problems.append("privileged")
    return problems


def baseline_problems(values: Any, where: str = "") -> Iterator[str]:
    """Host namespaces, host paths and privileged containers anywhere in `values`: what
    `baseline` rejects."""
    if isinstance(values, Mapping):
        for key, value in values.items():
            at = f"{where}.{key}" if where else str(key)
            host = key in {"hostNetwork", "hostPID", "hostIPC", "privileged"} and value is True
            if host or (key == "hostPath" and value):
                yield at
            else:
                yield from baseline_problems(value, at)
    elif isinstance(values, list):
        for index, item in enumerate(values):
            yield from baseline_problems(item, f"{where}[{index}]")


def app_template_pods(values: Mapping[str, Any]) -> Iterator[tuple[str, Any, Any]]:
    """(container, pod context, container context) of every container of an app-template
    release; a controller's pod.securityContext replaces defaultPodOptions'."""
    default = get(values, "defaultPodOptions.securityContext")
    for name, controller in values["controllers"].items():
        pod = get(controller, "pod.securityContext") or default
        for group in ("initContainers", "containers"):
            for container_name, container in (controller.get(group) or {}).items():
                yield f"{name}/{container_name}", pod, container.get("securityContext")


def pod_specs(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = doc["spec"]
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec if doc["kind"] == "Pod" else spec["template"]["spec"]


@pytest.mark.parametrize("stack", MONITORING_STACKS)
@pytest.mark.parametrize("level", LEVELS)
def test_namespace_levels_follow_what_runs_in_them(
    tree: Callable[..., Tree], level: str, stack: str
) -> None:
    files = tree(changes(level, stack))
    rendered = namespaces(files)
    assert set(rendered) == {
        "flux-system",
        "kube-system",
        "cert-manager",
        "network",
        "default",
        "observability",
        "kyverno",
        "velero",
        "trivy-system",
    }
    for name, namespace in rendered.items():
        want = "privileged" if name in PRIVILEGED else level
        labels = namespace["metadata"]["labels"]
        assert labels == {
            f"pod-security.kubernetes.io/{m}": want for m in ("enforce", "audit", "warn")
        }
        reason = namespace["metadata"]["annotations"].get("clustergen.io/pod-security-reason")
        assert bool(reason) is (name in PRIVILEGED), name
        if reason:
            text = files[f"kubernetes/apps/{name}/namespace.yaml"].decode()
            assert f"# privileged: {reason}" in text, name
    kube_system = rendered["kube-system"]["metadata"]["annotations"]
    assert "Cilium" in kube_system["clustergen.io/pod-security-reason"]
    assert (
        "node-exporter"
        in rendered["observability"]["metadata"]["annotations"]["clustergen.io/pod-security-reason"]
    )


def test_spegel_is_named_only_when_it_runs(tree: Callable[..., Tree]) -> None:
    for spegel in (True, False):
        files = tree({**changes("restricted"), "spegel.enabled": spegel})
        reason = namespaces(files)["kube-system"]["metadata"]["annotations"][
            "clustergen.io/pod-security-reason"
        ]
        assert ("spegel" in reason) is spegel


@pytest.mark.parametrize("stack", MONITORING_STACKS)
@pytest.mark.parametrize("level", LEVELS)
def test_every_workload_meets_its_namespace_level(
    tree: Callable[..., Tree], level: str, stack: str
) -> None:
    files = tree(changes(level, stack))
    levels = {
        name: ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        for name, ns in namespaces(files).items()
    }
    checked = set()
    for path, doc in objects(files):
        namespace = namespace_of(path)
        if levels.get(namespace, "privileged") == "privileged":
            continue
        kind, name = doc["kind"], doc["metadata"]["name"]
        if kind == "HelmRelease":
            values = helm_values(files, name)
            assert list(baseline_problems(values)) == [], name
            if name in EXPLICIT:
                for pod_path, container_path in EXPLICIT[name]:
                    problems = restricted_problems(
                        get(values, pod_path), get(values, container_path)
                    )
                    assert problems == [], f"{name} {pod_path}/{container_path}: {problems}"
            elif name in APP_TEMPLATE:
                for container, pod, context in app_template_pods(values):
                    assert restricted_problems(pod, context) == [], f"{name} {container}"
            elif name in CHART_DEFAULTS:
                source, keys = CHART_DEFAULTS[name]
                assert [k for k in keys if get(values, k) is not None] == [], source
            else:
                assert name in NO_PODS, f"{name} in {namespace}: no pod security check for it"
                assert "securityContext" not in repr(values), name
            checked.add(name)
        elif kind in POD_KINDS:
            spec = pod_specs(doc)
            assert list(baseline_problems(spec)) == [], f"{kind}/{name}"
            for container in [*spec.get("initContainers", []), *spec["containers"]]:
                problems = restricted_problems(
                    spec.get("securityContext"), container.get("securityContext")
                )
                assert problems == [], f"{kind}/{name} {container['name']}: {problems}"
            checked.add(name)
        elif kind == "EnvoyProxy":
            # Envoy Gateway's own defaults meet restricted (envoyproxy/gateway@v1.9.0
            # internal/infrastructure/kubernetes/proxy/resource.go expectedEnvoySecurityContext,
            # resource.DefaultSecurityContext); ours must not replace them.
            kubernetes = doc["spec"]["provider"]["kubernetes"]
            assert "securityContext" not in repr(kubernetes), name
            checked.add(name)
    # The releases the table names are the ones rendered (a stale entry is caught too).
    assert {"k8s-gateway", "trivy-operator", "echo", "cloudflare-tunnel", "envoy"} <= checked
    assert set(EXPLICIT) | APP_TEMPLATE | set(CHART_DEFAULTS) | NO_PODS <= checked


def test_k8s_gateway_runs_restricted(tree: Callable[..., Tree]) -> None:
    values = helm_values(tree(changes("restricted")), "k8s-gateway")
    assert values["podSecurityContext"] == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert values["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
    }
    # `secure` (default true) keeps the chart's runAsUser 1000 alongside ours.
    assert "secure" not in values
