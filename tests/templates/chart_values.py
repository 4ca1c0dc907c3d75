"""What the charts behind our HelmReleases accept, read from each chart's values.yaml (and
templates) with the `fetch` tool; the version read is the source string of each entry and
the `# values checked against` comment in templates/versions.yaml.

Where the snapshot lacked the pinned tag, the newest chart it held was read (flux-operator,
flux-instance, coredns, metrics-server, app-template). Cilium's repository is too large to
fetch: its values.yaml.tmpl and operator templates were read from the search index at an
untagged main commit after 1.19, so it has no entry here (tests name its keys one by one).
"""

from __future__ import annotations


def _keys(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Release -> (chart source, the chart's top-level value keys). A key of ours outside this
# set is one the chart never reads. Both app-template releases read the common library's.
TOP_LEVEL_KEYS: dict[str, tuple[str, frozenset[str]]] = {
    "flux-operator": (
        "controlplaneio-fluxcd/charts@fc87d3b charts/flux-operator (chart 0.49.0)",
        _keys(
            "affinity apiPriority commonAnnotations commonLabels extraArgs extraEnvs "
            "extraVolumeMounts extraVolumes fullnameOverride hostNetwork image installCRDs "
            "livenessProbe logLevel marketplace multitenancy nameOverride nodeSelector "
            "podSecurityContext priorityClassName rbac readinessProbe reporting resources "
            "securityContext service serviceAccount serviceMonitor tolerations web "
        ),
    ),
    "flux-instance": (
        "controlplaneio-fluxcd/charts@fc87d3b charts/flux-instance (chart 0.49.0)",
        _keys("commonAnnotations commonLabels fullnameOverride healthcheck instance nameOverride"),
    ),
    "coredns": (
        "coredns/helm@caac031 charts/coredns (newer than coredns-1.46.2)",
        _keys(
            "affinity autoscaler clusterRole customAnnotations customLabels deployment env "
            "extraConfig extraContainers extraSecrets extraVolumeMounts extraVolumes "
            "fullnameOverride hpa image initContainers isClusterService k8sAppLabelOverride "
            "livenessProbe nodeSelector podAnnotations podDisruptionBudget podLabels "
            "podSecurityContext priorityClassName prometheus rbac readinessProbe replicaCount "
            "resources rollingUpdate securityContext servers service serviceAccount serviceType "
            "terminationGracePeriodSeconds tolerations topologySpreadConstraints zoneFiles "
        ),
    ),
    "metrics-server": (
        "kubernetes-sigs/metrics-server@metrics-server-helm-chart-3.13.1",
        _keys(
            "addonResizer affinity apiService args commonLabels containerPort defaultArgs "
            "deploymentAnnotations dnsConfig extraVolumeMounts extraVolumes fullnameOverride "
            "hostNetwork hostUsers image imagePullSecrets livenessProbe metrics nameOverride "
            "namespaceOverride nodeSelector podAnnotations podDisruptionBudget podLabels "
            "podSecurityContext priorityClassName rbac readinessProbe replicas resources "
            "revisionHistoryLimit schedulerName securityContext service serviceAccount "
            "serviceMonitor tls tmpVolume tolerations topologySpreadConstraints updateStrategy "
        ),
    ),
    "reloader": (
        "stakater/Reloader@chart-v2.2.16",
        _keys("fullnameOverride global image kubernetes nameOverride reloader"),
    ),
    "spegel": (
        "spegel-org/spegel@v0.7.4",
        _keys(
            "affinity basicAuthSecretName clusterDomain commonLabels daemonsetAnnotations "
            "extraInitContainers extraVolumes fullnameOverride grafanaDashboard image "
            "imagePullSecrets livenessProbe nameOverride namespaceOverride nodeSelector "
            "podAnnotations podSecurityContext priorityClassName resources revisionHistoryLimit "
            "securityContext service serviceAccount serviceMonitor spegel tolerations "
            "updateStrategy verticalPodAutoscaler "
        ),
    ),
    "cert-manager": (
        "cert-manager/cert-manager@v1.21.1",
        _keys(
            "acmesolver affinity approveSignerNames cainjector clusterResourceNamespace config "
            "containerSecurityContext crds creator disableAutoApproval dns01RecursiveNameservers "
            "dns01RecursiveNameserversOnly enableCertificateOwnerRef enableServiceLinks enabled "
            "extraArgs extraContainers extraEnv extraObjects featureGates global hostAliases "
            "image imageNamespace imageRegistry ingressShim installCRDs livenessProbe "
            "maxConcurrentChallenges namespace networkPolicy nodeSelector podDisruptionBudget "
            "podLabels prometheus replicaCount resources runtimeClassName securityContext "
            "serviceAccount startupapicheck strategy tolerations topologySpreadConstraints "
            "volumeMounts volumes webhook "
        ),
    ),
    "envoy-gateway": (
        "envoyproxy/gateway@v1.9.0 charts/gateway-helm/values.tmpl.yaml",
        _keys(
            "certgen commonLabels config crds createNamespace deployment global hpa "
            "kubernetesClusterDomain namespaceOverride podDisruptionBudget service "
            "topologyInjector "
        ),
    ),
    "k8s-gateway": (
        "k8s-gateway/k8s_gateway@k8s-gateway-3.7.2",
        _keys(
            "affinity apex customLabels debug dnsChallenge domain extraVolumeMounts extraVolumes "
            "extraZonePlugins fallthrough filters fullnameOverride image imagePullSecrets "
            "nodeSelector podAnnotations podSecurityContext priorityClassName replicaCount "
            "resources scheme secondary secure securityContext service serviceAccount tolerations "
            "topologySpreadConstraints ttl watchedResources zoneFiles "
        ),
    ),
    "cloudflare-dns": (
        "kubernetes-sigs/external-dns@external-dns-helm-chart-1.21.1",
        _keys(
            "affinity annotationFilter annotationPrefix automountServiceAccountToken commonLabels "
            "deploymentAnnotations deploymentStrategy dnsConfig dnsPolicy domainFilters "
            "enableGatewayListenerSets enabled env excludeDomains extraArgs extraContainers "
            "extraVolumeMounts extraVolumes fullnameOverride gatewayNamespace global image "
            "imagePullSecrets initContainers interval labelFilter livenessProbe logFormat "
            "logLevel managedRecordTypes nameOverride namespaceOverride namespaced nodeSelector "
            "podAnnotations podLabels podSecurityContext policy priorityClassName provider rbac "
            "readinessProbe registry resources revisionHistoryLimit secretConfiguration "
            "securityContext service serviceAccount serviceMonitor shareProcessNamespace "
            "sourceNamespace sources terminationGracePeriodSeconds tolerations "
            "topologySpreadConstraints triggerLoopOnEvent txtOwnerId txtPrefix txtSuffix "
        ),
    ),
    "cloudflare-tunnel": (
        "bjw-s-labs/helm-charts@dfaf83d charts/library/common (app-template 4.1.1)",
        _keys(
            "configMaps configMapsFromFolder controllers defaultPodOptions "
            "defaultPodOptionsStrategy global ingress networkpolicies persistence rawResources "
            "rbac route secrets service serviceAccount serviceMonitor "
        ),
    ),
    "kyverno": (
        "kyverno/kyverno@kyverno-chart-3.9.0",
        _keys(
            "admissionController apiCallToken apiVersionOverride backgroundController "
            "cleanupController config crds customLabels existingImagePullSecrets features "
            "fullnameOverride global grafana imagePullSecrets metricsConfig nameOverride "
            "namespaceOverride openreports prometheusRule rbac reportsController reportsServer "
            "test upgrade webhooksCleanup "
        ),
    ),
    "trivy-operator": (
        "aquasecurity/trivy-operator@v0.32.0 deploy/helm (chart 0.34.0)",
        _keys(
            "affinity alternateReportStorage automountServiceAccountToken compliance "
            "excludeNamespaces extraEnv fullnameOverride global hostAliases image managedBy "
            "nameOverride nodeCollector nodeSelector operator podAnnotations podSecurityContext "
            "policiesBundle priorityClassName rbac resources securityContext service "
            "serviceAccount serviceMonitor targetNamespaces targetWorkloads tolerations trivy "
            "trivyOperator volumeMounts volumes "
        ),
    ),
    "velero": (
        "vmware-tanzu/helm-charts@velero-12.1.0",
        _keys(
            "affinity annotations backupsEnabled cleanUpCRDs configMaps configuration "
            "containerSecurityContext credentials deployNodeAgent dnsConfig dnsPolicy "
            "extraObjects extraVolumeMounts extraVolumes fullnameOverride hostAliases image "
            "initContainers kubectl labels lifecycle livenessProbe metrics nameOverride namespace "
            "nodeAgent nodeSelector podAnnotations podDisruptionBudget podLabels "
            "podSecurityContext priorityClassName rbac readinessProbe resizePolicy resources "
            "runtimeClassName schedules secretAnnotations serviceAccount snapshotsEnabled "
            "terminationGracePeriodSeconds tolerations upgradeCRDs upgradeCRDsJob "
            "upgradeJobResources "
        ),
    ),
    "prometheus-operator-crds": (
        "prometheus-community/helm-charts@prometheus-operator-crds-31.0.1",
        _keys("crds"),
    ),
    "kube-prometheus-stack": (
        "prometheus-community/helm-charts@kube-prometheus-stack-88.5.3",
        _keys(
            "additionalPrometheusRulesMap alertmanager cleanPrometheusOperatorObjectNames "
            "commonLabels coreDns crds customRules defaultRules extraManifests fullnameOverride "
            "global grafana kube-state-metrics kubeApiServer kubeControllerManager kubeDns "
            "kubeEtcd kubeProxy kubeScheduler kubeStateMetrics kubeTargetVersionOverride "
            "kubeVersionOverride kubelet kubernetesServiceMonitors nameOverride namespaceOverride "
            "nodeExporter prometheus prometheus-node-exporter prometheus-windows-exporter "
            "prometheusOperator thanosRuler windowsMonitoring "
        ),
    ),
    "victoria-metrics": (
        "VictoriaMetrics/helm-charts@victoria-metrics-k8s-stack-0.91.2",
        _keys(
            "additionalVictoriaMetricsMap alertmanager argocdReleaseOverride coreDns "
            "defaultDashboards defaultDatasources defaultRules defaultScrapeService external "
            "extraObjects extraRules fullnameOverride global grafana internal kube-state-metrics "
            "kubeApiServer kubeControllerManager kubeDns kubeEtcd kubeProxy kubeScheduler kubelet "
            "nameOverride prometheus-node-exporter syncJob tenant victoria-metrics-operator "
            "vlagent vlcluster vldistributed vlsingle vmagent vmalert vmauth vmcluster "
            "vmdistributed vmsingle vtcluster vtsingle "
        ),
    ),
    "grafana": (
        "grafana-community/helm-charts@grafana-11.6.1",
        _keys(
            "admin adminUser affinity alerting assertNoLeakedSecrets automountServiceAccountToken "
            "autoscaling containerSecurityContext createConfigmap dashboardProviders dashboards "
            "dashboardsConfigMaps datasources defaultCurlOptions deploymentStrategy dnsConfig "
            "dnsPolicy downloadDashboards downloadDashboardsImage enableKubeBackwardCompatibility "
            "enableServiceLinks env envFromConfigMaps envFromSecret envFromSecrets "
            "envRenderSecret envValueFrom extraConfigmapMounts extraContainerVolumes "
            "extraContainers extraEmptyDirMounts extraExposePorts extraInitContainers extraLabels "
            "extraObjects extraSecretMounts extraVolumeMounts extraVolumes global gossipPortName "
            "grafana.ini headlessService hostAliases hostUsers image imageRenderer ingress "
            "initChownData ldap lifecycleHooks livenessProbe namespaceOverride networkPolicy "
            "nodeSelector notifiers persistence plugins podDisruptionBudget podPortName rbac "
            "readinessProbe replicas resources revisionHistoryLimit route securityContext service "
            "serviceAccount serviceMonitor shareProcessNamespace sidecar smtp testFramework "
            "tolerations topologySpreadConstraints useStatefulSet verticalPodAutoscaler "
        ),
    ),
    "loki": (
        "grafana-community/helm-charts@loki-7.0.0",
        _keys(
            "adminApi backend bloomBuilder bloomGateway bloomPlanner chunksCache "
            "clusterLabelOverride commonLabels compactor deploymentMode distributor enterprise "
            "enterpriseGateway extraObjects fullnameOverride gateway global imagePullSecrets "
            "indexGateway ingester ingress kubeVersionOverride loki lokiCanary memberlist "
            "memcached memcachedExporter migrate minio monitoring nameOverride namespaceOverride "
            "networkPolicy overridesExporter patternIngester querier queryFrontend queryScheduler "
            "rbac read resultsCache rollout_operator ruler serviceAccount sidecar singleBinary "
            "tableManager test write "
        ),
    ),
    "tempo": (
        "grafana-community/helm-charts@tempo-1.24.4",
        _keys(
            "affinity annotations config extraLabels extraVolumes fullnameOverride global "
            "hostAliases labels nameOverride networkPolicy nodeSelector persistence "
            "podAnnotations podLabels priorityClassName replicas securityContext service "
            "serviceAccount serviceMonitor tempo tempoQuery tolerations "
        ),
    ),
    "alloy": (
        "grafana/alloy@helm-chart/1.5.3",
        _keys(
            "alloy configReloader controller crds extraObjects fullnameOverride global image "
            "ingress nameOverride namespaceOverride networkPolicy rbac service serviceAccount "
            "serviceMonitor "
        ),
    ),
}

TOP_LEVEL_KEYS["echo"] = TOP_LEVEL_KEYS["cloudflare-tunnel"]
