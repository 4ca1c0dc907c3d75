"""What the charts behind our selectors really do: the pod labels each chart (or operator)
sets and where each workload gets its replica count, read from the charts' templates."""

from __future__ import annotations

# Pod labels each chart (or operator) really sets, read from its templates; a selector of
# ours must be a subset. name -> (labels, where they come from).
CHART_LABELS: dict[str, tuple[dict[str, str], str]] = {
    "coredns": (
        {
            "app.kubernetes.io/instance": "coredns",
            "app.kubernetes.io/name": "coredns",
            "k8s-app": "kube-dns",
        },
        "coredns chart _helpers.tpl selectorLabels; k8s-app from k8sAppLabelOverride",
    ),
    "cilium-operator": (
        {"io.cilium/app": "operator", "name": "cilium-operator"},
        "cilium chart templates/cilium-operator/deployment.yaml",
    ),
    "hubble-relay": ({"k8s-app": "hubble-relay"}, "cilium chart templates/hubble-relay"),
    "metrics-server": (
        {
            "app.kubernetes.io/instance": "metrics-server",
            "app.kubernetes.io/name": "metrics-server",
        },
        "metrics-server chart selectorLabels",
    ),
    "reloader": (
        {"app.kubernetes.io/instance": "reloader", "app.kubernetes.io/name": "reloader"},
        "stakater/Reloader chart _helpers.tpl reloader-labels.chart",
    ),
    "spegel": (
        {"app.kubernetes.io/instance": "spegel", "app.kubernetes.io/name": "spegel"},
        "spegel chart _helpers.tpl spegel.selectorLabels",
    ),
    "cert-manager": (
        {
            "app.kubernetes.io/component": "controller",
            "app.kubernetes.io/instance": "cert-manager",
            "app.kubernetes.io/name": "cert-manager",
        },
        "cert-manager chart templates/deployment.yaml",
    ),
    "cert-manager-webhook": (
        {
            "app.kubernetes.io/component": "webhook",
            "app.kubernetes.io/instance": "cert-manager",
            "app.kubernetes.io/name": "webhook",
        },
        "cert-manager chart templates/webhook-deployment.yaml",
    ),
    "cert-manager-cainjector": (
        {
            "app.kubernetes.io/component": "cainjector",
            "app.kubernetes.io/instance": "cert-manager",
            "app.kubernetes.io/name": "cainjector",
        },
        "cert-manager chart templates/cainjector-deployment.yaml",
    ),
    "cert-manager-metrics": (
        {"app.kubernetes.io/instance": "cert-manager"},
        "cert-manager chart: every deployment's pods (its ServiceMonitor scrapes all three)",
    ),
    "envoy-gateway": (
        {
            "app.kubernetes.io/instance": "envoy-gateway",
            "app.kubernetes.io/name": "gateway-helm",
            "control-plane": "envoy-gateway",
        },
        "gateway-helm chart _helpers.tpl labels + control-plane",
    ),
    "envoy-proxies": (
        {
            "app.kubernetes.io/component": "proxy",
            "app.kubernetes.io/managed-by": "envoy-gateway",
            "app.kubernetes.io/name": "envoy",
        },
        "Envoy Gateway infra labels on every proxy pod",
    ),
    "envoy-internal": (
        {
            "app.kubernetes.io/component": "proxy",
            "app.kubernetes.io/managed-by": "envoy-gateway",
            "app.kubernetes.io/name": "envoy",
            "gateway.envoyproxy.io/owning-gateway-name": "envoy-internal",
            "gateway.envoyproxy.io/owning-gateway-namespace": "network",
        },
        "Envoy Gateway infra labels + owning Gateway",
    ),
    "envoy-external": (
        {
            "app.kubernetes.io/component": "proxy",
            "app.kubernetes.io/managed-by": "envoy-gateway",
            "app.kubernetes.io/name": "envoy",
            "gateway.envoyproxy.io/owning-gateway-name": "envoy-external",
            "gateway.envoyproxy.io/owning-gateway-namespace": "network",
        },
        "Envoy Gateway infra labels + owning Gateway",
    ),
    "k8s-gateway": (
        {"app.kubernetes.io/instance": "k8s-gateway", "app.kubernetes.io/name": "k8s-gateway"},
        "k8s-gateway chart selectorLabels",
    ),
    "cloudflare-dns": (
        {"app.kubernetes.io/instance": "cloudflare-dns", "app.kubernetes.io/name": "external-dns"},
        "external-dns chart selectorLabels (name is the chart's, instance the release's)",
    ),
    "cloudflare-tunnel": (
        {
            "app.kubernetes.io/controller": "cloudflare-tunnel",
            "app.kubernetes.io/instance": "cloudflare-tunnel",
            "app.kubernetes.io/name": "cloudflare-tunnel",
        },
        "bjw-s app-template: name = release, controller = controllers key",
    ),
    "echo": (
        {
            "app.kubernetes.io/controller": "echo",
            "app.kubernetes.io/instance": "echo",
            "app.kubernetes.io/name": "echo",
        },
        "bjw-s app-template",
    ),
    "kyverno-admission-controller": (
        {
            "app.kubernetes.io/component": "admission-controller",
            "app.kubernetes.io/instance": "kyverno",
            "app.kubernetes.io/part-of": "kyverno",
        },
        "kyverno chart admission-controller/_helpers.tpl matchLabels",
    ),
    "kyverno-cleanup-controller": (
        {
            "app.kubernetes.io/component": "cleanup-controller",
            "app.kubernetes.io/instance": "kyverno",
            "app.kubernetes.io/part-of": "kyverno",
        },
        "kyverno chart cleanup-controller/_helpers.tpl matchLabels",
    ),
    "kyverno-metrics": (
        {"app.kubernetes.io/instance": "kyverno", "app.kubernetes.io/part-of": "kyverno"},
        "kyverno chart matchLabels.common (every controller)",
    ),
}
# Where each budget's workload gets its replica count: (kind, name, dotted path).
REPLICAS: dict[str, tuple[str, str, str]] = {
    "coredns": ("HelmRelease", "coredns", "spec.values.replicaCount"),
    "cilium-operator": ("HelmRelease", "cilium", "spec.values.operator.replicas"),
    "cert-manager": ("HelmRelease", "cert-manager", "spec.values.replicaCount"),
    "cert-manager-webhook": ("HelmRelease", "cert-manager", "spec.values.webhook.replicaCount"),
    "envoy-gateway": ("HelmRelease", "envoy-gateway", "spec.values.deployment.replicas"),
    "envoy-internal": ("EnvoyProxy", "envoy", "spec.provider.kubernetes.envoyDeployment.replicas"),
    "envoy-external": ("EnvoyProxy", "envoy", "spec.provider.kubernetes.envoyDeployment.replicas"),
    "cloudflare-tunnel": (
        "HelmRelease",
        "cloudflare-tunnel",
        "spec.values.controllers.cloudflare-tunnel.replicas",
    ),
    "echo": ("HelmRelease", "echo", "spec.values.controllers.echo.replicas"),
    "k8s-gateway": ("HelmRelease", "k8s-gateway", "spec.values.replicaCount"),
}
