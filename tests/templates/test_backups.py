"""features.backups: Velero, its schedules and alerts, etcd snapshots, the DR document.

Renders the whole template tree from cluster.sample.yaml variants (real loader, real
renderer), so the secret-leak check sees every file the repository would get.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from generator import paths
from generator.config import load_cluster
from generator.errors import ConfigError
from generator.render.environment import make_environment
from generator.secrets.files import is_secret_path as is_secret
from tests import documents
from tests.rendering import render_context, sample_with, write_config
from tests.shared import CRD_SCHEMAS

VELERO = "kubernetes/apps/velero"
TALOS_PATCH = "talos/patches/controller/machine-features-etcd-backup.yaml"
DR_DOC = "docs/DISASTER_RECOVERY.md"
RUNBOOK = "docs/runbooks/backups.md"
ACCESS_KEY = "AKIAZZBACKUPACCESS42"
SECRET_KEY = "sEcReT/backup+key=Qx7vT9wLmN3pR5sU8yZ1"
S3 = {
    "features.backups.enabled": True,
    "features.backups.s3.endpoint": "https://minio.example.net:9000",
    "features.backups.s3.bucket": "cluster-backups",
    "features.backups.s3.access_key": ACCESS_KEY,
    "features.backups.s3.secret_key": SECRET_KEY,
}
MONITORING = {"features.monitoring.enabled": True}

Tree = dict[str, bytes]


class Renderer:
    """Renders each combination of changes once; keeps its context for the side files."""

    def __init__(self, context_for: Callable[[Mapping[str, Any]], dict[str, Any]]) -> None:
        self._context_for = context_for
        self._cache: dict[str, tuple[dict[str, Any], Tree]] = {}

    def _get(self, changes: tuple[Mapping[str, Any], ...]) -> tuple[dict[str, Any], Tree]:
        merged = {k: v for change in changes for k, v in change.items()}
        key = repr(sorted(merged.items()))
        if key not in self._cache:
            context = self._context_for(merged)
            self._cache[key] = (context, render_context(context, paths.TEMPLATE_TREE).files)
        return self._cache[key]

    def __call__(self, *changes: Mapping[str, Any]) -> Tree:
        return self._get(changes)[1]

    def context(self, *changes: Mapping[str, Any]) -> dict[str, Any]:
        return self._get(changes)[0]


@pytest.fixture(scope="module")
def render(context_for: Callable[[Mapping[str, Any]], dict[str, Any]]) -> Renderer:
    return Renderer(context_for)


def docs(tree: Tree, path: str) -> list[dict[str, Any]]:
    return [d for d in documents.load_all(tree[path]) if d]


def of_kind(tree: Tree, kind: str, prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    for path in tree:
        if path.startswith(prefix) and path.endswith(".yaml") and "kubernetes/" in path:
            for doc in docs(tree, path):
                if doc.get("kind") == kind:
                    yield path, doc


def one(tree: Tree, kind: str, name: str) -> dict[str, Any]:
    found = [d for _, d in of_kind(tree, kind, VELERO) if d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def backup_paths(tree: Tree) -> list[str]:
    return sorted(p for p in tree if p.startswith(VELERO) or p in (TALOS_PATCH, DR_DOC, RUNBOOK))


# --- off / on --------------------------------------------------------------------


def test_off_leaves_no_trace(render: Renderer) -> None:
    tree = render(MONITORING)
    assert backup_paths(tree) == []
    mentions = [p for p, content in tree.items() if b"velero" in content.lower()]
    assert mentions == []


def test_on_renders_velero_etcd_backup_patch_and_docs(render: Renderer) -> None:
    tree = render(S3)
    paths_on = backup_paths(tree)
    assert f"{VELERO}/velero/app/helmrelease.yaml" in paths_on
    assert f"{VELERO}/etcd-backup/app/cronjob.yaml" in paths_on
    assert TALOS_PATCH in paths_on and DR_DOC in paths_on
    assert RUNBOOK not in paths_on, "runbooks come with monitoring"
    assert not [p for p in paths_on if "prometheusrule" in p]
    values = one(tree, "HelmRelease", "velero")["spec"]["values"]
    assert "serviceMonitor" not in values["metrics"]


def test_incomplete_s3_is_rejected_naming_each_missing_key(tmp_path: Path) -> None:
    backups = {"enabled": True, "s3": {"bucket": "cluster-backups"}}
    config = write_config(sample_with({"features.backups": backups}), tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_cluster(config)
    message = str(caught.value)
    for key in ("endpoint", "access_key", "secret_key"):
        assert f"features.backups.s3.{key}: is required when features.backups.enabled" in message
    assert "features.backups.s3.bucket" not in message


# --- secrets ---------------------------------------------------------------------


def test_s3_credentials_live_only_in_sops_files(render: Renderer) -> None:
    tree = render(S3, MONITORING)
    leaks = [
        path
        for path, content in tree.items()
        if not is_secret(path)
        and (ACCESS_KEY.encode() in content or SECRET_KEY.encode() in content)
    ]
    assert leaks == []
    (secret,) = docs(tree, f"{VELERO}/velero/app/secret.sops.yaml")
    data = secret["stringData"]
    assert data["AWS_ACCESS_KEY_ID"] == ACCESS_KEY and data["AWS_SECRET_ACCESS_KEY"] == SECRET_KEY
    cloud = dict(line.split(" = ", 1) for line in data["cloud"].splitlines() if " = " in line)
    assert data["cloud"].startswith("[default]\n")
    assert cloud == {"aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": SECRET_KEY}


def test_etcd_backup_reads_credentials_and_encrypts_to_the_cluster_age_key(
    render: Renderer,
) -> None:
    tree = render(S3)
    cron = one(tree, "CronJob", "etcd-backup")
    (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    # The variables talos-backup reads (pkg/config/service.go) and the AWS SDK's two.
    assert env["CUSTOM_S3_ENDPOINT"]["value"] == "https://minio.example.net:9000"
    assert env["BUCKET"]["value"] == "cluster-backups"
    assert env["AWS_REGION"]["value"] == "us-east-1"
    assert env["S3_PREFIX"]["value"] == "etcd"
    assert env["AGE_X25519_PUBLIC_KEY"]["value"] == render.context(S3)["side"]["age_public_key"]
    (secret,) = docs(tree, f"{VELERO}/velero/app/secret.sops.yaml")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == secret["metadata"]["name"] and ref["key"] in secret["stringData"]
    volumes = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["volumes"]
    talos_sa = one(tree, "ServiceAccount", "etcd-backup-talos")
    assert {"name": "talos", "secret": {"secretName": talos_sa["metadata"]["name"]}} in volumes
    assert talos_sa["spec"]["roles"] == ["os:etcd:backup"]


def test_talos_patch_grants_etcd_backup_to_the_velero_namespace(render: Renderer) -> None:
    tree = render(S3)
    reference = f"@./{TALOS_PATCH.removeprefix('talos/')}"
    assert reference in yaml.safe_load(tree["talos/talconfig.yaml"])["controlPlane"]["patches"]
    assert reference.encode() not in render(MONITORING)["talos/talconfig.yaml"]
    patch = yaml.safe_load(tree[TALOS_PATCH])
    access = patch["machine"]["features"]["kubernetesTalosAPIAccess"]
    assert access == {
        "enabled": True,
        "allowedRoles": ["os:etcd:backup"],
        "allowedKubernetesNamespaces": ["velero"],
    }


# --- schedules and storage ----------------------------------------------------------

CUSTOM = {
    "features.backups.schedules.daily.schedule": "15 */12 * * *",
    "features.backups.schedules.daily.ttl": "72h",
    "features.backups.schedules.weekly.schedule": "0 5 * * 6",
    "features.backups.schedules.weekly.ttl": "1440h",
    "features.backups.excluded_namespaces": ["scratch", "media"],
}


def test_schedules_follow_cluster_yaml(render: Renderer) -> None:
    tree = render(S3, CUSTOM)
    daily, weekly = one(tree, "Schedule", "daily"), one(tree, "Schedule", "weekly")
    assert daily["spec"]["schedule"] == "15 */12 * * *"
    assert weekly["spec"]["schedule"] == "0 5 * * 6"
    assert daily["spec"]["template"]["ttl"] == "72h"
    assert weekly["spec"]["template"]["ttl"] == "1440h"
    # The platform namespaces clustergen renders, then the user's own exclusions.
    assert daily["spec"]["template"]["excludedNamespaces"] == [
        "flux-system", "kube-system", "cert-manager", "network", "velero", "scratch", "media"
    ]  # fmt: skip
    assert weekly["spec"]["template"]["excludedNamespaces"] == ["scratch", "media"]
    assert weekly["spec"]["template"]["includeClusterResources"] is True
    for schedule in (daily, weekly):
        template = schedule["spec"]["template"]
        assert template["includedNamespaces"] == ["*"]
        assert template["defaultVolumesToFsBackup"] is True
        assert template["storageLocation"] == "default"


def test_defaults_give_daily_and_weekly_schedules_without_exclusions(render: Renderer) -> None:
    tree = render(S3)
    weekly = one(tree, "Schedule", "weekly")["spec"]
    assert (weekly["schedule"], weekly["template"]["ttl"]) == ("0 4 * * 0", "720h")
    assert "excludedNamespaces" not in weekly["template"]
    daily = one(tree, "Schedule", "daily")["spec"]
    assert daily["template"]["excludedNamespaces"] == [
        "flux-system", "kube-system", "cert-manager", "network", "velero"
    ]  # fmt: skip
    # Prometheus and Loki volumes are rebuilt data: weekly copies them, daily does not.
    with_monitoring = one(render(S3, MONITORING), "Schedule", "daily")["spec"]
    assert "observability" in with_monitoring["template"]["excludedNamespaces"]


@pytest.mark.parametrize(
    ("endpoint", "compatible"),
    [("https://minio.example.net:9000", True), ("https://s3.eu-west-1.amazonaws.com", False)],
)
def test_storage_location_speaks_path_style_to_compatible_stores(
    render: Renderer, endpoint: str, compatible: bool
) -> None:
    tree = render(S3, {"features.backups.s3.endpoint": endpoint})
    bsl = one(tree, "BackupStorageLocation", "default")["spec"]
    assert bsl["default"] is True and bsl["objectStorage"]["bucket"] == "cluster-backups"
    assert bsl["credential"] == {"name": "velero-s3", "key": "cloud"}
    if compatible:
        assert bsl["config"]["s3Url"] == endpoint and bsl["config"]["s3ForcePathStyle"] == "true"
    else:
        assert "s3Url" not in bsl["config"] and "s3ForcePathStyle" not in bsl["config"]


def test_velero_runs_the_aws_plugin_and_node_agent(render: Renderer) -> None:
    values = one(render(S3), "HelmRelease", "velero")["spec"]["values"]
    (plugin,) = values["initContainers"]
    assert re.fullmatch(r"docker\.io/velero/velero-plugin-for-aws:v\d+\.\d+\.\d+", plugin["image"])
    assert values["deployNodeAgent"] is True
    assert values["configuration"]["uploaderType"] == "kopia"
    assert values["credentials"] == {"useSecret": True, "existingSecret": "velero-s3"}


# --- validity -----------------------------------------------------------------------


def _validate(doc: dict[str, Any]) -> None:
    group, _, version = doc["apiVersion"].rpartition("/")
    if group == "kustomize.config.k8s.io":  # kustomize's own file, not an API object
        assert doc["kind"] == "Kustomization" and doc["resources"]
    elif "." in group:
        schema_file = CRD_SCHEMAS / group / f"{doc['kind'].lower()}_{version}.json"
        assert schema_file.is_file(), f"no schema {schema_file}"
        schema = json.loads(schema_file.read_text(encoding="utf-8"))
        # No check_schema: the CRDs carry Go regexes (`^(?i)...`) Python's re rejects.
        jsonschema.validators.validator_for(schema)(schema).validate(doc)
    else:
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), True)


def test_every_manifest_is_valid_for_its_api(render: Renderer) -> None:
    tree = render(S3, CUSTOM, MONITORING)
    kinds: set[str] = set()
    for path in backup_paths(tree):
        if path.endswith(".yaml") and path.startswith("kubernetes/"):
            for doc in docs(tree, path):
                _validate(doc)
                kinds.add(doc["kind"])
    assert {"BackupStorageLocation", "Schedule", "PrometheusRule", "ServiceAccount"} <= kinds
    assert {"HelmRelease", "OCIRepository", "CronJob", "Secret", "Namespace"} <= kinds


def test_kustomizations_list_exactly_the_rendered_files(render: Renderer) -> None:
    for changes in ((S3,), (S3, MONITORING)):
        tree = render(*changes)
        for path in backup_paths(tree):
            if not path.endswith("/kustomization.yaml"):
                continue
            directory = path.rsplit("/", 1)[0]
            listed = {
                f"{directory}/{r.removeprefix('./')}" for r in docs(tree, path)[0]["resources"]
            }
            siblings = {p for p in tree if p.rsplit("/", 1)[0] == directory}
            # The namespace kustomization lists app ks.yaml files one level down.
            expected = {p for p in siblings if p != path} if "/app/" in path else listed
            assert listed == expected and all(p in tree for p in listed), path


# --- alerts and runbooks ------------------------------------------------------------


def test_every_alert_links_an_existing_runbook_section(render: Renderer) -> None:
    tree = render(S3, MONITORING)
    runbook = tree[RUNBOOK].decode()
    anchors = {m.group(1).lower() for m in re.finditer(r"^## (\S+)$", runbook, re.M)}
    alerts = [
        rule
        for _, doc in of_kind(tree, "PrometheusRule", VELERO)
        for group in doc["spec"]["groups"]
        for rule in group["rules"]
    ]
    assert {r["alert"] for r in alerts} == {
        "BackupFailed", "BackupPartiallyFailed", "BackupTooOld", "EtcdBackupFailed",
        "EtcdBackupTooOld",
    }  # fmt: skip
    for rule in alerts:
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]
        url = rule["annotations"]["runbook_url"]
        page, _, anchor = url.partition("#")
        assert page.endswith("/" + RUNBOOK), url
        assert anchor == rule["alert"].lower() and anchor in anchors, url


def test_missing_backup_thresholds_follow_the_schedules(render: Renderer) -> None:
    tree = render(S3, CUSTOM, MONITORING)
    rules = [r for _, d in of_kind(tree, "PrometheusRule", VELERO)
             for g in d["spec"]["groups"] for r in g["rules"]]  # fmt: skip
    too_old = {r["expr"].split('schedule="')[1].split('"')[0]: r["expr"]
               for r in rules if r["alert"] == "BackupTooOld"}  # fmt: skip
    # daily every 12 h, weekly on Saturdays: the longest gap plus 2 h of grace.
    assert too_old["daily"].endswith(f"> {14 * 3600}")
    assert too_old["weekly"].endswith(f"> {170 * 3600}")
    etcd = next(r for r in rules if r["alert"] == "EtcdBackupTooOld")
    assert etcd["expr"].endswith(f"> {8 * 3600}")


# --- the disaster-recovery document ------------------------------------------------


def test_dr_doc_states_rpo_retention_and_filled_in_commands(render: Renderer) -> None:
    doc = render(S3, CUSTOM)[DR_DOC].decode()
    assert "| RPO, application data (volumes and namespaced resources) | 12 hours |" in doc
    assert "| RPO, cluster state (etcd) | 6 hours |" in doc
    assert "| oldest restore point | 60 days ago |" in doc
    for command in (
        "velero restore create",
        "--from-schedule daily",
        "--namespace-mappings default:restore-test",
        "bootstrap --recover-from=./db.snapshot",
        "age --decrypt --identity age.key",
        "s3://cluster-backups/etcd/",
        "--endpoint-url https://minio.example.net:9000",
        "talosctl -n 192.168.1.10 -e 192.168.1.10 bootstrap",
    ):
        assert command in doc, command
    for key in ("age.key", "talsecret.sops.yaml", "cluster.yaml"):
        assert f"**`{key}`**" in doc or f"**`talos/{key}`**" in doc, key


def test_dr_doc_keeps_flux_from_recreating_a_namespace_during_its_restore(
    render: Renderer,
) -> None:
    tree = render(S3)
    doc = tree[DR_DOC].decode()
    # The namespaces' Kustomizations are applied by the root one: suspended while a deleted
    # namespace is restored, or Flux recreates it empty under Velero's feet.
    root = docs(tree, "kubernetes/flux/cluster/ks.yaml")[0]["metadata"]
    suspend = f"flux suspend kustomization {root['name']} -n {root['namespace']}"
    resume = f"flux resume kustomization {root['name']} -n {root['namespace']}"
    restores = [
        section
        for section in doc.split("\n## ")[1:]
        if "kubectl delete namespace" in section
        and section.index("kubectl delete namespace") < section.rfind("velero restore create")
    ]
    assert len(restores) == 2  # a namespace; the whole cluster from Git plus Velero
    for section in restores:
        assert section.find(suspend) != -1, section.splitlines()[0]
        assert section.index(suspend) < section.index("kubectl delete namespace")
        deleted = section.index("kubectl delete namespace")
        assert section.index("velero restore create", deleted) < section.rindex(resume)


def test_dr_doc_names_the_deploy_key_only_for_ssh_repositories(render: Renderer) -> None:
    assert "deploy.key" not in render(S3)[DR_DOC].decode()
    ssh = {"repository.url": "ssh://git@github.com/example/home-ops"}
    assert "**`deploy.key`**" in render(S3, ssh)[DR_DOC].decode()


# --- cron arithmetic (templates/macros/backups.j2) ---------------------------------


@pytest.mark.parametrize(
    ("cron", "hours"),
    [
        ("0 3 * * *", 24),
        ("0 4 * * 0", 168),
        ("30 */6 * * *", 6),
        ("0 1,13 * * *", 12),
        ("30 2 * * 1-5", 72),  # Friday to Monday
        ("0 3 * * MON,THU", 96),
        ("0 3 * * 7", 168),
        ("*/15 * * * *", 0.25),
        ("@hourly", 1),
        ("@daily", 24),
        ("0 3 1 * *", 31 * 24),
        ("0 3 1,15 * *", 17 * 24),
    ],
)
def test_longest_gap_between_cron_runs(cron: str, hours: float) -> None:
    env = make_environment([paths.TEMPLATES])
    template = env.from_string("#% import 'macros/backups.j2' as b %##{ b.max_gap_minutes(c) }#")
    assert int(template.render(c=cron)) == hours * 60


def test_each_alert_is_defined_once_across_the_tree(render: Renderer) -> None:
    # Backup alerts belong to the velero app; the observability rules must not repeat them.
    tree = render(
        {
            **S3,
            "features.monitoring.enabled": True,
            "features.policy_engine.enabled": True,
            "features.vulnerability_scanning.enabled": True,
        }
    )
    # An alert may come in two severities or once per schedule, but from one file only:
    # two files defining the same alert page twice for one outage.
    files_of: dict[str, set[str]] = {}
    for path, doc in of_kind(tree, "PrometheusRule"):
        for group in doc["spec"]["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    files_of.setdefault(rule["alert"], set()).add(path)
    assert {alert: files for alert, files in files_of.items() if len(files) > 1} == {}
