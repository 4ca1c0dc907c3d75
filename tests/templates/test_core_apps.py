"""The core apps under kubernetes/apps render valid, self-consistent manifests for every
shape of cluster.yaml: ingress modes, DNS provider, BGP, repository kind, node count."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping
from typing import Any

import pytest
import yaml

from generator import paths
from generator.validate.kubectl import build_all, kubectl_available
from generator.validate.schemas import SchemaStore
from tests.fakes import (
    FAKE_DEPLOY_KEY,
    FAKE_DEPLOY_KEY_PUB,
    TUNNEL_ID,
    TUNNEL_TOKEN,
    WEBHOOK_TOKEN,
)
from tests.templates.conftest import Render
from tests.templates.manifests import (
    DOMAIN,
    docs,
    find,
    kustomize_dirs,
    objects,
    unlisted_or_dangling,
    values,
)

BGP = {"router_addr": "192.168.1.1", "router_asn": 64513, "node_asn": "64514"}

Changes = Callable[[dict[str, Any]], dict[str, Any]]
VARIANTS: dict[str, Changes] = {
    "sample": lambda s: {},
    "tunnel": lambda s: {"ingress.mode": "cloudflare-tunnel"},
    "no-ingress": lambda s: {"ingress.mode": "none"},
    "no-dns": lambda s: {"ingress.mode": "none", "dns.provider": "none", "dns.token": ""},
    "bgp": lambda s: {"cilium.bgp": BGP},
    "no-webhook": lambda s: {"repository.webhook_provider": "none"},
    "gitlab-ssh": lambda s: {
        "repository.url": "ssh://git@gitlab.com/example/home-ops",
        "repository.webhook_provider": "gitlab",
    },
    "single-node": lambda s: {"nodes": s["nodes"][:1]},
    "spegel-off": lambda s: {"spegel.enabled": False},
    "pss-off": lambda s: {"features.pod_security.enabled": False},
}


@pytest.fixture(params=sorted(VARIANTS))
def variant(request: pytest.FixtureRequest, sample: dict[str, Any]) -> dict[str, Any]:
    return VARIANTS[request.param](sample)


@pytest.fixture
def tree(render: Render, variant: dict[str, Any]) -> dict[str, bytes]:
    return render(variant)


def flux_kustomizations(tree: Mapping[str, bytes]) -> dict[tuple[str, str], dict[str, Any]]:
    """(namespace, name) → Flux Kustomization; the namespace is set by the namespace folder."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for directory in kustomize_dirs(tree):
        kustomization = docs(tree, f"{directory}/kustomization.yaml")[0]
        for ref in kustomization.get("resources", []):
            path = posixpath.normpath(posixpath.join(directory, ref))
            if path.endswith("/ks.yaml"):
                for doc in docs(tree, path):
                    namespace = doc["metadata"].get("namespace", kustomization.get("namespace"))
                    found[(namespace, doc["metadata"]["name"])] = doc
    return found


# --- every variant -----------------------------------------------------------------


def test_every_file_is_tidy_nonempty_yaml(tree: dict[str, bytes]) -> None:
    for path, content in tree.items():
        if re.match(r"kubernetes/apps/[^/]+/[^/]+/README\.md$", path):
            continue  # an app folder's one-line README (tests/templates/test_docs.py)
        assert path.endswith(".yaml"), path
        assert docs(tree, path), f"{path} has no document"
        assert content.endswith(b"\n") and not content.endswith(b"\n\n"), f"{path}: blank end"
        assert not re.search(rb"[ \t]$", content, re.M), f"{path}: trailing whitespace"


def test_kustomizations_list_exactly_the_rendered_files(tree: dict[str, bytes]) -> None:
    assert unlisted_or_dangling(tree) == []


def test_flux_kustomizations_resolve(tree: dict[str, bytes]) -> None:
    kustomizations = flux_kustomizations(tree)
    assert len(kustomizations) >= 12
    for (namespace, name), ks in kustomizations.items():
        spec = ks["spec"]
        path = posixpath.normpath(spec["path"])
        assert f"{path}/kustomization.yaml" in tree, f"{name}: spec.path {path} not rendered"
        assert spec.get("targetNamespace", namespace) == namespace
        for dep in spec.get("dependsOn", []):
            key = (dep.get("namespace", namespace), dep["name"])
            assert key in kustomizations, f"{namespace}/{name} depends on missing {key}"


def test_objects_match_their_schemas(tree: dict[str, bytes], schemas: SchemaStore) -> None:
    for path, obj in objects(tree):
        result = schemas.check(obj)
        assert result.found, f"{path}: no schema for {obj['apiVersion']} {obj['kind']}"
        assert not result.errors, f"{path}: {result.errors}"
    # The flux-instance chart turns values.instance into the FluxInstance spec verbatim.
    instance = values(tree, "flux-instance")["instance"]
    fluxinstance = {
        "apiVersion": "fluxcd.controlplane.io/v1",
        "kind": "FluxInstance",
        "metadata": {"name": "flux", "namespace": "flux-system"},
        "spec": instance,
    }
    assert not schemas.check(fluxinstance).errors


# Between them these variants render every conditional file (kubectl takes ~1 s a variant).
@pytest.mark.skipif(not kubectl_available(), reason="kubectl is not installed")
@pytest.mark.parametrize("name", ["tunnel", "no-dns", "bgp", "gitlab-ssh", "single-node"])
def test_kubectl_kustomize_builds_every_directory(
    render: Render, sample: dict[str, Any], name: str
) -> None:
    tree = render(VARIANTS[name](sample))
    # build_all writes secrets as key-only stand-ins: plaintext never reaches the disk.
    assert build_all(tree, kustomize_dirs(tree), root=None) == []


# --- what each setting turns on and off -----------------------------------------------


def _mentions(tree: Mapping[str, bytes], needle: str) -> list[str]:
    return [p for p, c in tree.items() if needle in p or needle.encode() in c]


@pytest.mark.parametrize(
    ("changes", "absent"),
    [
        ({"repository.webhook_provider": "none"}, ["flux-webhook", "Receiver"]),
        ({"spegel.enabled": False}, ["spegel"]),
        ({"ingress.mode": "none"}, ["envoy-external", "cloudflare-dns", "cloudflare-tunnel"]),
        ({"ingress.mode": "direct"}, ["cloudflare-tunnel", "cfargotunnel"]),
        (
            {"ingress.mode": "none", "dns.provider": "none", "dns.token": ""},
            ["cloudflare", "letsencrypt"],
        ),
        ({}, ["bgp", "BGP", "deploy-key", "internal-ca", "selfsigned"]),
        ({}, ["serviceMonitor", "servicemonitor", "podMonitor", "monitor:", "flux-notifications"]),
        (
            {
                "cilium.bgp": BGP,
                "gateways.internal": "10.99.0.1",
                "gateways.dns": "10.99.0.2",
                "gateways.external": "10.99.0.3",
            },
            ["CiliumL2AnnouncementPolicy", "l2announcements"],
        ),
        ({"features.pod_security.enabled": False}, ["pod-security.kubernetes.io"]),
    ],
)
def test_what_is_off_leaves_no_trace(
    render: Render, changes: dict[str, Any], absent: list[str]
) -> None:
    tree = render(changes)
    for needle in absent:
        assert not _mentions(tree, needle), f"{needle!r} in {_mentions(tree, needle)}"


def test_cloudflare_tunnel(render: Render) -> None:
    tree = render({"ingress.mode": "cloudflare-tunnel"})
    secret = find(tree, "Secret", "cloudflare-tunnel-secret")
    assert secret["stringData"] == {"TUNNEL_TOKEN": TUNNEL_TOKEN}
    endpoint = find(tree, "DNSEndpoint", "cloudflare-tunnel")["spec"]["endpoints"][0]
    assert endpoint["targets"] == [f"{TUNNEL_ID}.cfargotunnel.com"]
    config = values(tree, "cloudflare-tunnel")["configMaps"]["config"]["data"]["config.yaml"]
    assert "envoy-external" in config and f'"*.{DOMAIN}"' in config


@pytest.mark.parametrize("mode", ["direct", "cloudflare-tunnel", "none"])
def test_routes_and_gateways_follow_ingress(render: Render, mode: str) -> None:
    tree = render({"ingress.mode": mode})
    gateway = "envoy-internal" if mode == "none" else "envoy-external"
    route = find(tree, "HTTPRoute", "flux-webhook")
    assert route["spec"]["hostnames"] == [f"flux-webhook.{DOMAIN}"]
    assert route["spec"]["parentRefs"][0]["name"] == gateway
    assert values(tree, "echo")["route"]["app"]["parentRefs"][0]["name"] == gateway
    ips = {
        d["metadata"]["name"]: d["spec"]["infrastructure"]["annotations"]["lbipam.cilium.io/ips"]
        for _, d in objects(tree)
        if d["kind"] == "Gateway"
    }
    expected = {"envoy-internal": "192.168.1.21"}
    if mode != "none":
        expected["envoy-external"] = "192.168.1.23"
    assert ips == expected
    external_dns = "kubernetes/apps/network/cloudflare-dns/ks.yaml"
    assert (external_dns in tree) is (mode != "none")


@pytest.mark.parametrize(
    ("provider", "issuer"), [("cloudflare", "letsencrypt-production"), ("none", "internal-ca")]
)
def test_certificate_issuer_follows_dns_provider(
    render: Render, provider: str, issuer: str
) -> None:
    changes: dict[str, Any] = {"dns.provider": provider}
    if provider == "none":
        changes.update({"dns.token": "", "ingress.mode": "none"})
    tree = render(changes)
    find(tree, "ClusterIssuer", issuer)
    certificate = find(tree, "Certificate", "wildcard")
    assert certificate["spec"]["issuerRef"]["name"] == issuer
    assert certificate["spec"]["dnsNames"] == [DOMAIN, f"*.{DOMAIN}"]
    if provider == "cloudflare":
        token = find(tree, "Secret", "cloudflare-api-token")["stringData"]["api-token"]
        assert token == "fake-cloudflare-token-replace-me"
    gateways = flux_kustomizations(tree)[("network", "gateways")]
    assert {"name": "cluster-issuers", "namespace": "cert-manager"} in gateways["spec"]["dependsOn"]


def test_bgp_keeps_l2_announcements_for_on_link_gateways(render: Render) -> None:
    # Hosts on the node network ARP for the gateways there; BGP alone would not answer.
    tree = render({"cilium.bgp": BGP})
    cilium = values(tree, "cilium")
    assert cilium["bgpControlPlane"] == {"enabled": True}
    instance = find(tree, "CiliumBGPClusterConfig", "cluster")["spec"]["bgpInstances"][0]
    assert instance["localASN"] == 64514
    assert instance["peers"][0]["peerASN"] == 64513
    assert instance["peers"][0]["peerAddress"] == "192.168.1.1"
    pool = find(tree, "CiliumLoadBalancerIPPool", "pool")["spec"]["blocks"]
    assert pool == [{"cidr": f"192.168.1.{n}/32"} for n in (21, 22, 23)]
    assert cilium["l2announcements"] == {"enabled": True}
    assert find(tree, "CiliumL2AnnouncementPolicy", "l2-policy")["spec"]["loadBalancerIPs"]


def test_pool_holds_gateways_and_the_range_only(render: Render) -> None:
    pool = find(render({}), "CiliumLoadBalancerIPPool", "pool")["spec"]
    assert pool == {"blocks": [{"cidr": f"192.168.1.{n}/32"} for n in (21, 22, 23)]}
    # The sample with any extra LoadBalancer Service: nothing in use on the LAN is handed out.
    for in_use in ("192.168.1.1", "192.168.1.10", "192.168.1.11", "192.168.1.12", "192.168.1.20"):
        assert f"{in_use}/" not in str(pool)
    tree = render({"cilium.loadbalancer_range": "192.168.1.240-192.168.1.250"})
    blocks = find(tree, "CiliumLoadBalancerIPPool", "pool")["spec"]["blocks"]
    assert blocks[-1] == {"start": "192.168.1.240", "stop": "192.168.1.250"}
    tree = render({"cilium.loadbalancer_range": "192.168.1.224/28"})
    blocks = find(tree, "CiliumLoadBalancerIPPool", "pool")["spec"]["blocks"]
    assert blocks[-1] == {"cidr": "192.168.1.224/28"}


def test_cilium_matches_talos(render: Render) -> None:
    cilium = values(render({}), "cilium")
    # KubePrism, as Talos documents it for Cilium.
    assert (cilium["k8sServiceHost"], cilium["k8sServicePort"]) == ("localhost", 7445)
    # Talos mounts cgroup v2 itself; the chart's key is camelCase (a lowercase one is ignored).
    assert cilium["cgroup"] == {"autoMount": {"enabled": False}, "hostRoot": "/sys/fs/cgroup"}
    # Talos forbids SYS_MODULE: the agent gets an explicit capability set without it.
    agent_caps = cilium["securityContext"]["capabilities"]["ciliumAgent"]
    assert {"NET_ADMIN", "SYS_ADMIN", "BPF", "PERFMON"} <= set(agent_caps)
    assert "SYS_MODULE" not in agent_caps
    assert cilium["securityContext"]["capabilities"]["cleanCiliumState"] == [
        "NET_ADMIN",
        "SYS_ADMIN",
        "SYS_RESOURCE",
    ]
    assert cilium["kubeProxyReplacement"] is True
    assert cilium["ipam"] == {"mode": "kubernetes"}
    assert cilium["loadBalancer"]["mode"] == "dsr"
    assert cilium["l2announcements"] == {"enabled": True}
    assert cilium["ipv4NativeRoutingCIDR"] == "10.42.0.0/16"


def test_mtu_is_the_smallest_node_mtu(render: Render, sample: dict[str, Any]) -> None:
    nodes = [dict(n) for n in sample["nodes"]]
    nodes[1]["mtu"] = 1450
    assert values(render({"nodes": nodes}), "cilium")["MTU"] == 1450


def test_ssh_repository_gets_a_deploy_key(render: Render) -> None:
    tree = render({"repository.url": "ssh://git@github.com/example/home-ops"})
    sync = values(tree, "flux-instance")["instance"]["sync"]
    assert sync == {
        "kind": "GitRepository",
        "url": "ssh://git@github.com/example/home-ops",
        "ref": "refs/heads/main",
        "path": "kubernetes/flux/cluster",
        "pullSecret": "deploy-key",
    }
    secret = find(tree, "Secret", "deploy-key")["stringData"]
    assert secret["identity"] == FAKE_DEPLOY_KEY
    assert secret["identity.pub"] == FAKE_DEPLOY_KEY_PUB
    assert secret["known_hosts"].startswith("github.com ")


@pytest.mark.parametrize(
    ("provider", "url"),
    [
        ("github", "https://github.com/example/home-ops"),
        ("gitlab", "https://gitlab.com/example/home-ops"),
        ("generic-hmac", "https://git.example.com/example/home-ops"),
    ],
)
def test_webhook_receiver_type(render: Render, provider: str, url: str) -> None:
    tree = render({"repository.webhook_provider": provider, "repository.url": url})
    receiver = find(tree, "Receiver", "flux-webhook")["spec"]
    assert receiver["type"] == provider
    assert receiver["secretRef"] == {"name": "flux-webhook-token"}
    assert find(tree, "Secret", "flux-webhook-token")["stringData"] == {"token": WEBHOOK_TOKEN}


@pytest.mark.parametrize(("count", "replicas"), [(1, 1), (3, 3)])
def test_replicas_follow_controllers(
    render: Render, sample: dict[str, Any], count: int, replicas: int
) -> None:
    tree = render({"nodes": sample["nodes"][:count]})
    assert values(tree, "coredns")["replicaCount"] == replicas
    assert values(tree, "coredns")["service"]["clusterIP"] == "10.43.0.10"
    assert values(tree, "cilium")["operator"]["replicas"] == replicas
    assert values(tree, "cert-manager")["replicaCount"] == replicas
    assert ("kubernetes/apps/kube-system/spegel/ks.yaml" in tree) is (count > 1)


@pytest.mark.parametrize("level", ["baseline", "restricted"])
def test_pod_security_labels(render: Render, level: str) -> None:
    tree = render({"features.pod_security.level": level})
    for namespace in ("flux-system", "cert-manager", "network", "default", "kube-system"):
        labels = find(tree, "Namespace", namespace)["metadata"]["labels"]
        want = "privileged" if namespace == "kube-system" else level
        assert labels == {
            f"pod-security.kubernetes.io/{m}": want for m in ("enforce", "audit", "warn")
        }
    # The exception says why.
    text = tree["kubernetes/apps/kube-system/namespace.yaml"].decode()
    assert re.search(r"#.*privileged: Cilium", text)


def test_echo_has_probes_and_resources(render: Render) -> None:
    app = values(render({}), "echo")["controllers"]["echo"]["containers"]["app"]
    assert app["probes"]["liveness"]["enabled"] and app["probes"]["readiness"]["enabled"]
    assert app["resources"]["requests"]["cpu"] and app["resources"]["limits"]["memory"]


def test_versions_are_renovate_annotated_and_used(render: Render) -> None:
    lines = paths.VERSIONS_FILE.read_text().splitlines()
    versions = yaml.safe_load("\n".join(lines))
    for i, line in enumerate(lines):
        if line.strip().startswith("version:"):
            assert re.match(
                r"\s*# renovate: datasource=\S+ depName=\S+( versioning=\S+)?( registryUrl=\S+)?$",
                lines[i - 1],
            ), line
    tree = render({"ingress.mode": "cloudflare-tunnel"})
    charts = {c["repository"]: str(c["version"]) for c in versions["charts"].values()}
    for _, obj in objects(tree):
        if obj["kind"] == "OCIRepository":
            assert charts[obj["spec"]["url"]] == obj["spec"]["ref"]["tag"]
