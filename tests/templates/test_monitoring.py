"""features.monitoring: the metrics stacks, Grafana, monitors, rules with runbooks, alerting.

Rendered from cluster.sample.yaml variants by the real loader and renderer; Alertmanager's
configuration is read back from its (plaintext, in-memory) .sops. Secret.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from generator import paths
from generator.render.context import load_versions
from generator.validate.schemas import SchemaStore
from tests.fakes import WEBHOOK_TOKEN
from tests.templates.conftest import ContextFor, Render, Tree
from tests.templates.manifests import (
    dig,
    docs,
    find,
    objects,
    of_kind,
    unlisted_or_dangling,
    values,
)
from tests.templates.observability import observability_renderer, render_everything

OBS = "kubernetes/apps/observability"
MONITOR_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}


def receiver(name: str, type_: str, **keys: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **keys}


# One receiver of every type; every secret value is distinctive so leaks are easy to find.
RECEIVERS = [
    receiver("chat", "discord", url="https://discord.com/api/webhooks/1/SECRET-discord"),
    receiver("team", "slack", url="https://hooks.slack.com/services/T0/B0/SECRET-slack"),
    receiver("phone", "ntfy", url="https://ntfy.example.org/SECRET-topic", token="SECRET-ntfy"),
    receiver("push", "pushover", user_key="SECRET-user-key", token="SECRET-pushover"),
    receiver(
        "mail",
        "email",
        address="SECRET-oncall@example.org",
        smarthost="smtp.example.org:587",
        **{"from": "alertmanager@example.org"},
        username="alertmanager",
        password="SECRET-smtp",
    ),
    receiver("hook", "webhook", url="https://hooks.example.org/SECRET-hook", token="SECRET-bearer"),
]
HEARTBEAT = "https://hc-ping.com/SECRET-heartbeat"
SECRET_MARK = "SECRET-"


def monitoring(**overrides: Any) -> dict[str, Any]:
    return {"features.monitoring.enabled": True, **overrides}


@pytest.fixture(scope="module")
def render(tmp_path_factory: pytest.TempPathFactory, context_for: ContextFor) -> Render:
    return observability_renderer(tmp_path_factory, context_for)


@pytest.fixture(scope="module")
def full(render: Render) -> Tree:
    """Everything on: receivers of every type, heartbeat, logs, tracing, backups, policies."""
    return render(
        monitoring(
            **{
                "features.monitoring.alerting.receivers": RECEIVERS,
                "features.monitoring.alerting.heartbeat_url": HEARTBEAT,
                "features.monitoring.logs.enabled": True,
                "features.monitoring.tracing.enabled": True,
                "features.monitoring.storage_class": "fast-ssd",
                "features.backups.enabled": True,
                "features.backups.s3.endpoint": "https://s3.example.org",
                "features.backups.s3.bucket": "backups",
                "features.backups.s3.access_key": "SECRET-access",
                "features.backups.s3.secret_key": "SECRET-s3",
                "features.policy_engine.enabled": True,
            }
        )
    )


def alertmanager_config(tree: Tree, stack: str = "kube-prometheus-stack") -> dict[str, Any]:
    secret = docs(tree, f"{OBS}/{stack}/app/alertmanager-config.sops.yaml")[0]
    config = yaml.safe_load(secret["stringData"]["alertmanager.yaml"])
    assert isinstance(config, dict)
    return config


# --- off: no trace ------------------------------------------------------------------


def test_monitoring_off_leaves_no_trace(render: Render) -> None:
    tree = render({})
    assert not [p for p in tree if p.startswith((OBS, "docs/runbooks"))]
    assert not [d["kind"] for _, d in objects(tree) if d["kind"] in MONITOR_KINDS]
    for _, release in of_kind(tree, "HelmRelease"):
        for name, check in MONITORED.items():
            if name == release["metadata"]["name"] and isinstance(check, Values):
                on = [p for p in check.paths if dig(release["spec"].get("values"), p)]
                assert not on, f"{name} enables {on} with monitoring off"


# --- stacks -------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["kube-prometheus-stack", "victoria-metrics"])
def test_stack_renders_only_itself_and_lists_every_file(render: Render, stack: str) -> None:
    tree = render(monitoring(**{"features.monitoring.stack": stack}))
    other = "victoria-metrics" if stack == "kube-prometheus-stack" else "kube-prometheus-stack"
    assert f"{OBS}/{stack}/ks.yaml" in tree
    assert not [p for p in tree if p.startswith(f"{OBS}/{other}/")]
    assert not [p for p in tree if p.startswith((f"{OBS}/loki/", f"{OBS}/alloy/", f"{OBS}/tempo/"))]
    assert unlisted_or_dangling(tree) == []
    grafana = find(tree, "Kustomization", "grafana")
    assert grafana["spec"]["dependsOn"] == [{"name": stack}]


def test_kube_prometheus_stack_values_follow_config(render: Render) -> None:
    tree = render(
        monitoring(
            **{
                "features.monitoring.retention": "30d",
                "features.monitoring.storage_size": "50Gi",
                "features.monitoring.storage_class": "fast-ssd",
            }
        )
    )
    spec = values(tree, "kube-prometheus-stack")["prometheus"]["prometheusSpec"]
    assert spec["retention"] == "30d"
    assert spec["retentionSize"] == "42GB"
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["resources"]["requests"]["storage"] == "50Gi"
    assert claim["storageClassName"] == "fast-ssd"
    assert spec["podMetadata"]["labels"] == {"clustergen.io/metrics-scraper": "true"}
    assert spec["serviceMonitorSelectorNilUsesHelmValues"] is False
    am = values(tree, "kube-prometheus-stack")["alertmanager"]["alertmanagerSpec"]
    assert am["useExistingSecret"] is True and am["configSecret"] == "alertmanager-config"


def test_storage_class_is_omitted_when_unset(render: Render) -> None:
    tree = render(monitoring())
    claim = values(tree, "kube-prometheus-stack")["prometheus"]["prometheusSpec"]["storageSpec"]
    assert "storageClassName" not in claim["volumeClaimTemplate"]["spec"]


def test_victoria_metrics_values_follow_config(render: Render) -> None:
    tree = render(
        monitoring(
            **{
                "features.monitoring.stack": "victoria-metrics",
                "features.monitoring.retention": "2w",
                "features.monitoring.storage_size": "30Gi",
            }
        )
    )
    vm = values(tree, "victoria-metrics")
    assert vm["victoria-metrics-operator"]["operator"]["disable_prometheus_converter"] is False
    assert vm["vmsingle"]["spec"]["retentionPeriod"] == "2w"
    assert vm["vmsingle"]["spec"]["storage"]["resources"]["requests"]["storage"] == "30Gi"
    assert vm["vmagent"]["spec"]["podMetadata"]["labels"] == {
        "clustergen.io/metrics-scraper": "true"
    }
    assert vm["alertmanager"]["spec"]["configSecret"] == "alertmanager-config"
    assert vm["grafana"]["enabled"] is False
    datasources = values(tree, "grafana")["datasources"]["datasources.yaml"]["datasources"]
    assert datasources[0]["url"].startswith("http://vmsingle-victoria-metrics.observability.")


@pytest.mark.parametrize("stack", ["kube-prometheus-stack", "victoria-metrics"])
def test_every_component_has_resources(render: Render, stack: str) -> None:
    tree = render(monitoring(**{"features.monitoring.stack": stack}))
    release = values(tree, stack)
    if stack == "kube-prometheus-stack":
        paths = [
            "prometheusOperator.resources",
            "prometheus.prometheusSpec.resources",
            "alertmanager.alertmanagerSpec.resources",
            "kube-state-metrics.resources",
            "prometheus-node-exporter.resources",
        ]
        assert dig(release, "prometheusOperator.prometheusConfigReloader.enableProbe") is True
    else:
        paths = [
            "victoria-metrics-operator.resources",
            "vmsingle.spec.resources",
            "vmagent.spec.resources",
            "vmalert.spec.resources",
            "alertmanager.spec.resources",
            "kube-state-metrics.resources",
            "prometheus-node-exporter.resources",
        ]
    for path in paths:
        res = dig(release, path)
        assert res and res["requests"] and res["limits"]["memory"], path
    grafana = values(tree, "grafana")
    assert grafana["resources"]["limits"]["memory"]
    assert grafana["readinessProbe"] and grafana["livenessProbe"]


# --- grafana ------------------------------------------------------------------------


def test_grafana_behind_internal_gateway_with_stable_admin_secret(render: Render) -> None:
    tree = render(monitoring())
    route = find(tree, "HTTPRoute", "grafana")
    assert route["spec"]["hostnames"] == ["grafana.example.com"]
    assert route["spec"]["parentRefs"][0]["name"] == "envoy-internal"
    assert values(tree, "grafana")["admin"]["existingSecret"] == "grafana-admin"
    secret_path = f"{OBS}/grafana/app/grafana-admin.sops.yaml"
    password = docs(tree, secret_path)[0]["stringData"]["admin-password"]
    assert re.fullmatch(r"[0-9a-f]{64}", password) and WEBHOOK_TOKEN not in password
    # Not computable from the webhook token, which is pasted into GitHub.
    shared = hashlib.sha256(f"{WEBHOOK_TOKEN}:grafana-admin".encode()).hexdigest()
    assert password != shared
    # Same inputs, same plaintext: the encrypted file keeps its ciphertext.
    assert (
        render(monitoring(**{"features.monitoring.retention": "16d"}))[secret_path]
        == (tree[secret_path])
    )


def test_grafana_dashboards_cover_the_operators(render: Render) -> None:
    grafana = values(render(monitoring()), "grafana")
    boards = {name for folder in grafana["dashboards"].values() for name in folder}
    for wanted in (
        "flux",
        "cilium-agent",
        "cilium-operator",
        "cilium-hubble",
        "cilium-policy",
        "cert-manager",
        "envoy",
        "coredns",
        "node-exporter",
    ):
        assert any(b.startswith(wanted) for b in boards), wanted
    # Flux resource status comes from flux-operator's metrics, at the operator's release
    # (flux2-monitoring-example's cluster.json needs kube-state-metrics settings we lack).
    operator = grafana["dashboards"]["flux"]["flux-operator"]["url"]
    version = load_versions(paths.VERSIONS_FILE)["charts"]["flux-operator"]["version"]
    assert f"/flux-operator/v{version}/" in operator
    assert not any("cluster.json" in str(b) for b in grafana["dashboards"]["flux"].values())
    providers = grafana["dashboardProviders"]["dashboardproviders.yaml"]["providers"]
    assert {p["name"] for p in providers} == set(grafana["dashboards"])
    for folder in grafana["dashboards"].values():
        for board in folder.values():
            assert ("gnetId" in board and "revision" in board) or board["url"].startswith(
                "https://"
            )


def test_logs_and_tracing_are_linked_data_sources(full: Tree) -> None:
    for path in ("loki/ks.yaml", "alloy/ks.yaml", "tempo/ks.yaml"):
        assert f"{OBS}/{path}" in full
    loki = values(full, "loki")
    assert loki["deploymentMode"] == "SingleBinary"
    assert loki["singleBinary"]["persistence"]["size"] == "20Gi"
    assert loki["singleBinary"]["persistence"]["storageClass"] == "fast-ssd"
    tempo = values(full, "tempo")["tempo"]["receivers"]["otlp"]["protocols"]
    assert tempo["grpc"]["endpoint"].endswith(":4317")
    # Grafana's service map reads what the metrics generator writes, which it only does for
    # the processors the overrides switch on.
    generator = values(full, "tempo")["tempo"]
    assert generator["metricsGenerator"]["enabled"] is True
    processors = generator["overrides"]["defaults"]["metrics_generator"]["processors"]
    assert set(processors) == {"service-graphs", "span-metrics"}
    sources = {
        d["uid"]: d
        for d in values(full, "grafana")["datasources"]["datasources.yaml"]["datasources"]
    }
    assert sources["loki"]["jsonData"]["derivedFields"][0]["datasourceUid"] == "tempo"
    assert sources["tempo"]["jsonData"]["tracesToLogsV2"]["datasourceUid"] == "loki"
    # Grafana's own ${...} survives Flux's postBuild substitution only escaped.
    text = full[f"{OBS}/grafana/app/helmrelease.yaml"].decode()
    assert "$${__value.raw}" in text and re.search(r"(?<!\$)\$\{__", text) is None


# --- rules and runbooks --------------------------------------------------------------


def test_every_rule_is_complete_and_has_a_runbook(full: Tree) -> None:
    rules = [
        r
        for _, d in of_kind(full, "PrometheusRule")
        for g in d["spec"]["groups"]
        for r in g["rules"]
    ]
    alerts = {r["alert"] for r in rules}
    assert {
        "NodeDown",
        "PodCrashLooping",
        "PodOOMKilled",
        "PodNotReady",
        "PersistentVolumeFillingUp",
        "CertificateExpiringSoon",
        "FluxReconciliationFailure",
        "FluxResourceSuspended",
        "PolicyViolations",
        "Watchdog",
    } <= alerts
    base = "https://github.com/example/home-ops/blob/main/"
    for rule in rules:
        name = rule["alert"]
        assert rule["expr"] and rule["for"], name
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
        url = rule["annotations"]["runbook_url"]
        assert url.startswith(base), url
        doc, _, anchor = url.removeprefix(base).partition("#")
        assert doc in full, f"{name}: runbook {doc} is not rendered"
        headings = re.findall(r"^## (\S+)$", full[doc].decode(), flags=re.MULTILINE)
        assert anchor == name.lower() and name in headings, f"{name}: no heading in {doc}"
        if "group_left (node)" in rule["expr"]:
            # `a >= 1 * on (...) b` would multiply 1, not a: the joined side is parenthesised.
            left = rule["expr"].split("* on (namespace, pod)")[0].strip()
            assert left.startswith("(") and left.endswith(")"), name
    severities = {(r["alert"], r["labels"]["severity"]) for r in rules}
    assert {
        ("PersistentVolumeFillingUp", "warning"),
        ("PersistentVolumeFillingUp", "critical"),
    } <= (severities)
    pvc = [r for r in rules if r["alert"] == "PersistentVolumeFillingUp"]
    assert sorted(re.findall(r"> (0\.\d+)", r["expr"])[0] for r in pvc) == ["0.80", "0.95"]


def test_optional_rules_follow_their_features(render: Render) -> None:
    tree = render(monitoring())
    alerts = {
        r["alert"]
        for _, d in of_kind(tree, "PrometheusRule")
        for g in d["spec"]["groups"]
        for r in g["rules"]
    }
    assert not alerts & {"Watchdog", "BackupFailed", "PolicyViolations"}
    assert not [p for p in tree if p.endswith(("watchdog.md", "backups.md", "policy.md"))]
    assert unlisted_or_dangling(tree) == []


@pytest.mark.parametrize(
    ("url", "branch", "base"),
    [
        ("ssh://git@gitlab.com/me/ops.git", "prod", "https://gitlab.com/me/ops/-/blob/prod/"),
        ("https://codeberg.org/me/ops.git", "main", "https://codeberg.org/me/ops/src/branch/main/"),
    ],
)
def test_runbook_urls_follow_the_forge(render: Render, url: str, branch: str, base: str) -> None:
    tree = render(
        monitoring(
            **{
                "repository.url": url,
                "repository.branch": branch,
                "repository.webhook_provider": "none",
            }
        )
    )
    node = find(tree, "PrometheusRule", "nodes")["spec"]["groups"][0]["rules"][0]
    assert node["annotations"]["runbook_url"] == f"{base}docs/runbooks/nodes.md#nodedown"


# --- alerting -------------------------------------------------------------------------


def test_critical_alerts_reach_every_receiver_and_warnings_the_first(full: Tree) -> None:
    config = alertmanager_config(full)
    route = config["route"]
    assert route["receiver"] == "chat"
    critical = [r for r in route["routes"] if r.get("matchers") == ['severity = "critical"']]
    assert [r["receiver"] for r in critical] == [r["name"] for r in RECEIVERS]
    assert all(r["continue"] is True for r in critical)
    by_name = {r["name"]: r for r in config["receivers"]}
    assert by_name["chat"]["discord_configs"][0]["webhook_url"] == RECEIVERS[0]["url"]
    assert by_name["team"]["slack_configs"][0]["api_url"] == RECEIVERS[1]["url"]
    ntfy = by_name["phone"]["webhook_configs"][0]
    assert ntfy["url"] == RECEIVERS[2]["url"] + "?template=alertmanager"
    assert ntfy["http_config"]["authorization"]["credentials"] == "SECRET-ntfy"
    assert by_name["push"]["pushover_configs"][0]["user_key"] == "SECRET-user-key"
    mail = by_name["mail"]["email_configs"][0]
    assert (mail["to"], mail["auth_password"]) == ("SECRET-oncall@example.org", "SECRET-smtp")
    assert by_name["hook"]["webhook_configs"][0]["url"] == RECEIVERS[5]["url"]


def test_inhibition_rules(full: Tree) -> None:
    rules = alertmanager_config(full)["inhibit_rules"]
    assert {
        "source_matchers": ['severity = "critical"'],
        "target_matchers": ['severity = "warning"'],
        "equal": ["alertname", "namespace"],
    } in rules
    node_down = [r for r in rules if r["source_matchers"] == ['alertname = "NodeDown"']]
    assert node_down and node_down[0]["equal"] == ["node"]


@pytest.mark.parametrize("stack", ["kube-prometheus-stack", "victoria-metrics"])
def test_watchdog_exists_iff_heartbeat(render: Render, stack: str) -> None:
    base = {"features.monitoring.stack": stack}
    with_hb = render(
        monitoring(**base, **{"features.monitoring.alerting.heartbeat_url": HEARTBEAT})
    )
    config = alertmanager_config(with_hb, stack)
    watchdog = config["route"]["routes"][0]
    assert (
        watchdog["matchers"] == ['alertname = "Watchdog"'] and watchdog["receiver"] == "heartbeat"
    )
    assert watchdog["repeat_interval"] == "5m"
    heartbeat = {r["name"]: r for r in config["receivers"]}["heartbeat"]
    assert heartbeat["webhook_configs"][0]["url"] == HEARTBEAT
    assert find(with_hb, "PrometheusRule", "watchdog")

    without = render(monitoring(**base))
    config = alertmanager_config(without, stack)
    assert config["route"]["receiver"] == "null"
    assert "heartbeat" not in {r["name"] for r in config["receivers"]}
    assert not [
        d for _, d in of_kind(without, "PrometheusRule") if d["metadata"]["name"] == "watchdog"
    ]


def test_no_secret_outside_sops_files(full: Tree) -> None:
    plaintext = {p: c for p, c in full.items() if ".sops." not in posixpath.basename(p)}
    leaks = [p for p, c in plaintext.items() if SECRET_MARK.encode() in c]
    assert leaks == []
    # The secrets are in the tree at all (in .sops. files), so the check above means something.
    assert any(SECRET_MARK.encode() in c for p, c in full.items() if ".sops." in p)


# --- validity --------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["kube-prometheus-stack", "victoria-metrics"])
def test_custom_resources_validate(
    render: Render, full: Tree, schemas: SchemaStore, stack: str
) -> None:
    tree = (
        full
        if stack == "kube-prometheus-stack"
        else render(
            monitoring(
                **{"features.monitoring.stack": stack, "features.monitoring.logs.enabled": True}
            )
        )
    )
    checked = 0
    for path, doc in objects(tree):
        if not path.startswith((OBS, "kubernetes/apps/flux-system/flux-notifications")):
            continue
        result = schemas.check(doc)
        assert (
            result.found
            or "/" not in doc["apiVersion"]
            or doc["apiVersion"].startswith(("v1", "apps/"))
        ), f"{path}: no schema for {doc['apiVersion']} {doc['kind']}"
        assert not result.errors, f"{path}: {result.errors}"
        checked += result.found
    assert checked >= 15


# --- every operator the cluster runs is monitored ----------------------------------------


@dataclass(frozen=True)
class Values:
    """The chart renders its own monitor when these values are true."""

    paths: tuple[str, ...]


@dataclass(frozen=True)
class Manifest:
    """A ServiceMonitor/PodMonitor file we render ourselves."""

    files: tuple[str, ...]


@dataclass(frozen=True)
class Exempt:
    """Nothing to scrape, or the release monitors itself by default; the reason says which."""

    reason: str


MONITORED: dict[str, Values | Manifest | Exempt] = {
    "cilium": Values(
        (
            "prometheus.serviceMonitor.enabled",
            "operator.prometheus.serviceMonitor.enabled",
            "hubble.metrics.serviceMonitor.enabled",
        )
    ),
    "coredns": Values(("prometheus.monitor.enabled",)),
    "cert-manager": Values(("prometheus.servicemonitor.enabled",)),
    "flux-operator": Values(("serviceMonitor.create",)),
    "flux-instance": Manifest((f"{OBS}/monitors/app/podmonitor-flux-controllers.yaml",)),
    "envoy-gateway": Manifest(
        (
            f"{OBS}/monitors/app/servicemonitor-envoy-gateway.yaml",
            f"{OBS}/monitors/app/podmonitor-envoy-proxy.yaml",
        )
    ),
    "cloudflare-dns": Values(("serviceMonitor.enabled",)),
    "external-dns": Values(("serviceMonitor.enabled",)),
    "spegel": Values(("serviceMonitor.enabled",)),
    "metrics-server": Values(("serviceMonitor.enabled",)),
    "reloader": Values(("reloader.podMonitor.enabled",)),
    "kyverno": Values(
        (
            "admissionController.serviceMonitor.enabled",
            "backgroundController.serviceMonitor.enabled",
            "cleanupController.serviceMonitor.enabled",
            "reportsController.serviceMonitor.enabled",
        )
    ),
    "velero": Values(("metrics.serviceMonitor.enabled",)),
    "trivy-operator": Values(("serviceMonitor.enabled",)),
    "grafana": Values(("serviceMonitor.enabled",)),
    "loki": Values(("monitoring.serviceMonitor.enabled",)),
    "tempo": Values(("serviceMonitor.enabled",)),
    "alloy": Values(("serviceMonitor.enabled",)),
    "kube-prometheus-stack": Exempt("monitors Prometheus, Alertmanager, the operator by default"),
    "victoria-metrics": Exempt("monitors vmsingle, vmagent, vmalert, the operator by default"),
    "prometheus-operator-crds": Exempt("CRDs only"),
    "k8s-gateway": Exempt("the chart has no monitor switch; CoreDNS-based, answers DNS only"),
    "cloudflare-tunnel": Exempt("app-template release; the tunnel's health is Cloudflare's"),
    "echo": Exempt("demo workload"),
}


@pytest.fixture(scope="module")
def everything(tmp_path_factory: pytest.TempPathFactory, context_for: ContextFor) -> Tree:
    """The whole kubernetes/ tree (every area), with every feature that adds an operator."""
    return render_everything(tmp_path_factory, context_for, {})


def test_every_rendered_operator_is_monitored(everything: Tree) -> None:
    missing: list[str] = []
    for path, release in of_kind(everything, "HelmRelease"):
        name = release["metadata"]["name"]
        check = MONITORED.get(name)
        if check is None:
            missing.append(f"{name} ({path}): unknown; add it to MONITORED in {__name__}")
        elif isinstance(check, Values):
            off = [p for p in check.paths if dig(release["spec"].get("values"), p) is not True]
            if off:
                missing.append(f"{name} ({path}): values {off} must be true with monitoring on")
        elif isinstance(check, Manifest):
            for file in check.files:
                kinds = {d["kind"] for d in docs(everything, file)} if file in everything else set()
                if not kinds & {"ServiceMonitor", "PodMonitor"}:
                    missing.append(f"{name}: {file} renders no ServiceMonitor/PodMonitor")
    assert missing == [], "\n".join(missing)
